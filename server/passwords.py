"""Operators' passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommended
parameters: 64 MiB, 3 passes), each with its own salt, kept as a PHC string. Pure and CPU-bound:
a check costs tens of milliseconds, so callers run it in a thread (`asyncio.to_thread`).

`verify` of an unknown name checks against a hash made at start, so that a wrong name takes as
long as a wrong password and the login form does not tell which names exist.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU

_hasher = PasswordHasher()


def problem_with(password: str) -> str | None:
    """Why `password` is refused as a new password, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _decoy() -> str:
    return _hasher.hash("a password no operator has")


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one of `password_hash` (None: no such operator, always False)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _decoy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False

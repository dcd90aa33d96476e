"""The operators of the web UI (/admin/) and their sessions: the one writer of `admin_users` and
`admin_sessions`.

Passwords arrive here already hashed (server/passwords.py, argon2id, off the event loop). A
session's cookie is a random 256-bit token returned once; only its SHA-256 is kept, looked up on
every page (one indexed read), so logging out or a password reset ends it at once. An operator's
replies to contacts are a platform user's (`platform_user_of`), so that the CRM shows them as any
operator's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from server.text import name_problem
from server.timeutil import to_db, utc_now
from storage import platform_users
from storage.db import Reads, WriteTransaction, reads, writes
from storage.sql import Q

MAX_NAME_LENGTH = 100


class AdminError(ValueError):
    """An operator cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True)
class Credentials:
    id: int
    name: str
    password_hash: str


@dataclass(frozen=True)
class Session:
    id: int
    user_id: int
    name: str
    csrf_token: str
    expires_at: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> None:
    if (problem := name_problem(name, MAX_NAME_LENGTH)) is not None:
        raise AdminError(f"operator name {name!r} {problem}; e.g. create_admin anna")


@writes
def create_admin(tx: WriteTransaction, name: str, password_hash: str) -> None:
    check_name(name)
    if tx.fetch_one(Q.admin_by_name, {"name": name}) is not None:
        raise AdminError(f"an operator named {name!r} exists already; change the password with --reset")
    tx.execute(Q.insert_admin, {"name": name, "password_hash": password_hash, "now": to_db(utc_now())})


@writes
def reset_password(tx: WriteTransaction, name: str, password_hash: str) -> None:
    """A new password for `name`; every session of it ends."""
    user_id = tx.fetch_value(Q.set_admin_password, {"name": name, "password_hash": password_hash,
                                                    "now": to_db(utc_now())})
    if user_id is None:
        raise AdminError(f"no operator is named {name!r}; create_admin {name} makes one")
    tx.execute(Q.delete_sessions_of_admin, {"user_id": user_id})


@reads
def list_admins(conn: Reads) -> list[dict]:
    """Every operator by name: id, name, created_at, updated_at, and its live `sessions`."""
    return [dict(row) for row in conn.fetch_all(Q.list_admins, {"now": to_db(utc_now())})]


@writes
def delete_admin(tx: WriteTransaction, admin_id: int) -> bool:
    """The operator gone, with its sessions (its replies stay, as its platform user's); whether
    there was one."""
    return tx.execute(Q.delete_admin, {"id": admin_id}) == 1


@reads
def credentials(conn: Reads, name: str) -> Credentials | None:
    row = conn.fetch_one(Q.admin_by_name, {"name": name})
    return Credentials(**dict(row)) if row is not None else None


@writes
def start_session(tx: WriteTransaction, user_id: int, hours: float) -> tuple[str, str]:
    """A new session of `user_id` for `hours`: (its cookie token, its CSRF token). Sessions that
    expired meanwhile are cleared away."""
    now = utc_now()
    tx.execute(Q.delete_expired_admin_sessions, {"now": to_db(now)})
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tx.execute(Q.insert_admin_session, {"user_id": user_id, "token_sha256": _digest(token), "csrf_token": csrf_token,
                                        "now": to_db(now), "expires_at": to_db(now + timedelta(hours=hours))})
    return token, csrf_token


@reads
def session_of(conn: Reads, token: str) -> Session | None:
    """The live session whose cookie is `token`, or None (unknown, or expired)."""
    row = conn.fetch_one(Q.admin_session_by_token, {"token_sha256": _digest(token), "now": to_db(utc_now())})
    return Session(**dict(row)) if row is not None else None


@writes
def platform_user_of(tx: WriteTransaction, admin_id: int, name: str) -> int:
    """The platform user (the CRM's users) whose replies are this operator's, made the first time."""
    found = tx.fetch_value(Q.admin_platform_user, {"id": admin_id})
    if found is not None:
        return found
    user_id = platform_users.create(tx, name)
    tx.execute(Q.set_admin_platform_user, {"id": admin_id, "platform_user_id": user_id, "now": to_db(utc_now())})
    return user_id


@writes
def end_session(tx: WriteTransaction, token: str) -> None:
    tx.execute(Q.delete_admin_session, {"token_sha256": _digest(token)})

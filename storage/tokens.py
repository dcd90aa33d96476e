"""API tokens: made by `python main.py create_token NAME`, kept only as SHA-256 digests, listed
and revoked by name or by their first characters (`prefix`).

A token is 160 random bits, so a plain digest is enough (no slow KDF); lookups compare digests.
Names identify tokens: one name, one token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from server.text import name_problem
from server.timeutil import to_db, utc_now
from storage.db import Database, WriteTransaction, writes
from storage.sql import Q

PREFIX_LENGTH = 8
MAX_NAME_LENGTH = 100


class TokenError(ValueError):
    """A token cannot be made or found as asked; the message says why."""


class NoSuchToken(TokenError):
    pass


class AmbiguousToken(TokenError):
    def __init__(self, message: str, candidates: list[StoredToken]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class StoredToken:
    id: int
    name: str
    prefix: str | None  # None for tokens made before prefixes were kept
    created_at: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> None:
    if not name.strip():
        raise TokenError("a token needs a name, e.g. create_token crm-sync")
    if (problem := name_problem(name, MAX_NAME_LENGTH)) is not None:
        raise TokenError(f"token name {name!r} {problem}")


async def create_token(db: Database, name: str) -> str:
    """A new token named `name`, returned once. Raises TokenError for a bad or taken name."""
    check_name(name)
    token = secrets.token_hex(20)

    def insert(tx: WriteTransaction) -> None:
        if tx.fetch_value(Q.token_name_taken, {"name": name}):
            raise TokenError(f"a token named {name!r} exists already; revoke it first or pick another name")
        tx.execute(Q.insert_token, {"name": name, "token_sha256": digest(token),
                                    "prefix": token[:PREFIX_LENGTH], "created_at": to_db(utc_now())})

    await db.write(insert)
    return token


async def list_tokens(db: Database) -> list[StoredToken]:
    return [StoredToken(**row) for row in await db.fetch_all(Q.list_tokens)]


@writes
def revoke_token(tx: WriteTransaction, wanted: str) -> StoredToken:
    """Delete the one token whose name or prefix is `wanted` (or which is `wanted` itself).

    Raises NoSuchToken when none is, AmbiguousToken (with the candidates) when several are.
    """
    rows = tx.fetch_all(Q.tokens_matching, {"wanted": wanted, "token_sha256": digest(wanted)})
    found = [StoredToken(**row) for row in rows]
    if not found:
        raise NoSuchToken(f"no token is named {wanted!r} or has that prefix")
    if len(found) > 1:
        raise AmbiguousToken(f"{len(found)} tokens match {wanted!r}; name one by its prefix", found)
    tx.execute(Q.delete_token, {"id": found[0].id})
    return found[0]


class TokenChecker:
    """Accepts the static `auth.api_tokens` and the tokens stored in the database.

    A stored token is looked up on every request (one indexed read, a few microseconds), so a
    revoked token is refused from the next request on, by every process using the database.
    """

    def __init__(self, db: Database, static_tokens: list[str]) -> None:
        self._db = db
        self._static = [digest(token) for token in static_tokens]

    async def name_of(self, token: str) -> str | None:
        wanted = digest(token)
        matched = False
        for known in self._static:
            matched |= hmac.compare_digest(known, wanted)
        if matched:
            return "config"
        return await self._db.fetch_value(Q.token_name_by_hash, {"token_sha256": wanted})

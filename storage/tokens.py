"""API tokens: made by `python main.py create_token NAME`, kept only as SHA-256 digests.

A token is 160 random bits, so a plain digest is enough (no slow KDF); lookups compare digests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from server.timeutil import to_db, utc_now
from storage.db import Database
from storage.sql import Q


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: Database, name: str) -> str:
    token = secrets.token_hex(20)
    async with db.transaction() as tx:
        await tx.execute(
            Q.insert_token,
            {"name": name, "token_sha256": digest(token), "created_at": to_db(utc_now())},
        )
    return token


class TokenChecker:
    """Accepts the static `auth.api_tokens` and the tokens stored in the database.

    A stored token, once found, is remembered (by digest) for REMEMBER_SECONDS, so that a busy
    client does not cost a query per request.
    """

    REMEMBER_SECONDS = 60.0

    def __init__(self, db: Database, static_tokens: list[str]) -> None:
        self._db = db
        self._static = [digest(token) for token in static_tokens]
        self._found: dict[str, tuple[str, float]] = {}

    async def name_of(self, token: str) -> str | None:
        wanted = digest(token)
        matched = False
        for known in self._static:
            matched |= hmac.compare_digest(known, wanted)
        if matched:
            return "config"
        name, until = self._found.get(wanted, (None, 0.0))
        if name is not None and time.monotonic() < until:
            return name
        name = await self._db.fetch_value(Q.token_name_by_hash, {"token_sha256": wanted})
        if name is not None:
            self._found[wanted] = (name, time.monotonic() + self.REMEMBER_SECONDS)
        return name

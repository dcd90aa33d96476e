"""The passport email lookup over HTTP (`subscriptions.passport_email_url`): who is behind a
passportuid that subscribed without an email. The client only moves bytes; what they mean is
decided in passport_email_protocol. One session, opened on first use and closed by its owner.
"""

from __future__ import annotations

import asyncio

import aiohttp

from server.gateways.passport_email_protocol import LookupFailure, build_request, parse_reply
from server.settings import SubscriptionSettings


class PassportEmailError(Exception):
    """The service gave no usable answer; the passportuid is to be asked again later."""


class PassportEmailLookup:
    CONCURRENCY = 4  # lookups in flight at once

    def __init__(self, settings: SubscriptionSettings) -> None:
        self._url = settings.passport_email_url
        self._token = settings.passport_email_token
        self._timeout = aiohttp.ClientTimeout(total=settings.passport_email_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def email_of(self, passportuid: str) -> str | None:
        """The account's address, or None if it has none. Raises PassportEmailError."""
        request = build_request(self._url, self._token, passportuid)
        try:
            async with self._open_session().get(request.url, headers=request.headers, allow_redirects=False,
                                                timeout=self._timeout) as reply:
                answer = parse_reply(reply.status, await reply.read())
        except asyncio.TimeoutError:
            raise PassportEmailError(
                f"passport email lookup did not answer within {self._timeout.total:g} s") from None
        except aiohttp.ClientError as exc:
            raise PassportEmailError(f"passport email lookup unreachable: {exc.__class__.__name__}: {exc}") from None
        if isinstance(answer, LookupFailure):
            raise PassportEmailError(answer.message)
        return answer.email

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.CONCURRENCY))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_passport_email_lookup(settings: SubscriptionSettings) -> PassportEmailLookup | None:
    """The lookup, or None when `passport_email_url` is not set."""
    return PassportEmailLookup(settings) if settings.passport_email_url else None

"""SMS transports: `sandbox` records every message as sent, `http` talks to the provider.

The HTTP client only moves bytes; what they mean is decided in `sms_protocol`. Every network
failure is an Outcome (retry), never an exception, so one bad provider cannot stop the workers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from server.gateways.sms_protocol import SENT, Outcome, Verdict, build_send, parse_reply
from server.settings import NotificationSettings


class SmsTransport(Protocol):
    async def send(self, message_id: int, phone: str, text: str, timeout: float) -> Outcome: ...

    async def close(self) -> None: ...


class SandboxTransport:
    """For a fresh machine: accepts everything and sends nothing."""

    async def send(self, message_id: int, phone: str, text: str, timeout: float) -> Outcome:
        return SENT

    async def close(self) -> None:
        pass


class HttpTransport:
    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=settings.concurrency))

    async def send(self, message_id: int, phone: str, text: str, timeout: float) -> Outcome:
        """One attempt, given up after `timeout` seconds (the engine keeps it inside the mailing's end)."""
        request = build_send(self._settings.provider_url, self._settings.provider_token, message_id, phone, text)
        try:
            async with self._session.post(
                request.url, data=request.body, headers=request.headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as reply:
                return parse_reply(reply.status, await reply.read())
        except asyncio.TimeoutError:
            return Outcome(Verdict.RETRY, f"provider did not answer within {timeout:.1f} s")
        except aiohttp.ClientError as exc:
            return Outcome(Verdict.RETRY, f"provider unreachable: {exc.__class__.__name__}: {exc}")

    async def close(self) -> None:
        await self._session.close()


def make_transport(settings: NotificationSettings) -> SmsTransport:
    return HttpTransport(settings) if settings.transport == "http" else SandboxTransport()

"""SMS transports: `sandbox` records every message as sent, `http` talks to the provider,
`mango` sends through the MANGO OFFICE PBX's commands/sms.

The HTTP client only moves bytes; what they mean is decided in `sms_protocol`. Every network
failure is an Outcome (retry), never an exception, so one bad provider cannot stop the workers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from server.errors import GatewayError
from server.gateways import mango_protocol
from server.gateways.mango import MangoClient
from server.gateways.sms_protocol import SENT, Outcome, Verdict, build_send, parse_reply
from server.settings import NotificationSettings, TelephonySettings


class SmsTransport(Protocol):
    max_rate: float  # SMS per second the transport can take at most; 0: no limit of its own

    async def send(self, message_id: int, phone: str, text: str, timeout: float, attempt: int = 1) -> Outcome:
        """One attempt (the `attempt`-th at this message), given up after `timeout` seconds."""

    async def close(self) -> None: ...


class SandboxTransport:
    """For a fresh machine: accepts everything and sends nothing."""

    max_rate = 0.0

    async def send(self, message_id: int, phone: str, text: str, timeout: float, attempt: int = 1) -> Outcome:
        return SENT

    async def close(self) -> None:
        pass


class HttpTransport:
    max_rate = 0.0

    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=settings.concurrency))

    async def send(self, message_id: int, phone: str, text: str, timeout: float, attempt: int = 1) -> Outcome:
        """Given up after `timeout` seconds (the engine keeps it inside the mailing's end); the
        message id is the msgId, so a resend after a crash is the same message to the provider."""
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


class MangoTransport:
    """The PBX's commands/sms through the shared MangoClient (its rate limits and lockout). Mango's
    immediate 1000 only means it took the SMS: the outcome is ACCEPTED, and its result/sms webhook
    decides sent or failed (storage/telephony.py). Each try's command_id names the message and
    the attempt; a try whose result never comes is tried again after
    `telephony.result_timeout_seconds`. A text Mango would refuse for its length fails here,
    unsent: a 3xxx answer counts towards Mango's lockout. Mango takes 10 requests a second per
    product: mailings get 8 of them at most, the rest is the gateway's."""

    max_rate = 8.0

    def __init__(self, client: MangoClient, settings: TelephonySettings) -> None:
        self._client = client
        self._settings = settings

    async def send(self, message_id: int, phone: str, text: str, timeout: float, attempt: int = 1) -> Outcome:
        if (problem := mango_protocol.sms_too_long(text)) is not None:
            return Outcome(Verdict.FAIL, f"the PBX would refuse this text: {problem}")
        command_id = mango_protocol.sms_command_id(message_id, attempt)
        payload = {"command_id": command_id, "text": text,
                   "from_extension": self._settings.sms_from_extension, "to_number": phone}
        if self._settings.sms_sender:
            payload["sms_sender"] = self._settings.sms_sender
        try:
            _, answer = await self._client.call("vpbx", "commands/sms", payload)
        except GatewayError as exc:
            return Outcome(Verdict.RETRY, f"PBX: {exc.detail}")
        code = answer.result
        if code is None:
            return Outcome(Verdict.RETRY, f"PBX answered HTTP {answer.status} without a result code")
        if mango_protocol.is_success(code):
            return Outcome(Verdict.ACCEPTED, f"accepted by the PBX as {command_id}; waiting for its result/sms",
                           wait_seconds=self._settings.result_timeout_seconds)
        if code // 1000 == 5 or code == 4290:
            return Outcome(Verdict.RETRY, f"PBX result {code}: {mango_protocol.describe(code)}")
        return Outcome(Verdict.FAIL, f"PBX refused the SMS: {code} {mango_protocol.describe(code)}")

    async def close(self) -> None:
        pass  # the client is the app's


def make_transport(settings: NotificationSettings, mango: MangoClient | None = None,
                   telephony: TelephonySettings | None = None) -> SmsTransport:
    if settings.transport == "mango":
        if mango is None or telephony is None:
            raise ValueError("notifications.transport = 'mango' needs the PBX client and telephony settings")
        return MangoTransport(mango, telephony)
    return HttpTransport(settings) if settings.transport == "http" else SandboxTransport()

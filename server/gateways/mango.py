"""The MANGO OFFICE PBX client: one aiohttp session, a timeout, Mango's rate limits and lockout.

It moves bytes; what they mean is decided in `mango_protocol`. A call waits for its moment under
the rate limits (server/gateways/mango_limits.py) when that is at most
`telephony.rate_limit_wait_seconds` away, else it is refused with a 429 and Retry-After: Herald
itself never earns a 429 from Mango. When Mango locks the account out (HTTP 401, after more than
one 3xxx error in two minutes), nothing more is forwarded until `telephony.lockout_seconds` have
passed: each call meanwhile is a 503 with Retry-After, so the lock is not extended. Failures are
`GatewayError`s that say what happened (the key and salt are never in them, nor in a log line).
"""

from __future__ import annotations

import asyncio
import logging
import math

import aiohttp

from server.errors import GatewayError
from server.gateways import mango_protocol as protocol
from server.gateways.mango_limits import Limits
from server.settings import TelephonySettings

log = logging.getLogger("herald.telephony")


class MangoClient:
    def __init__(self, settings: TelephonySettings) -> None:
        self.settings = settings
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds))
        self._limits = Limits()
        self.locked_until = 0.0  # loop time

    def base_url(self, product: str) -> str:
        return self.settings.cc_api_url if product == "cc" else self.settings.api_url

    async def call(self, product: str, path: str, payload: dict) -> tuple[protocol.MangoRequest, protocol.Answer]:
        """POST `payload` to `path` of `product` (`vpbx` or `cc`), signed; the request as sent
        (without secrets) and Mango's answer. Raises GatewayError when there is no answer to give."""
        if not self.settings.configured:
            raise GatewayError(503, "Telephony is not configured: set telephony.api_key and telephony.api_salt.")
        loop = asyncio.get_running_loop()
        self._refuse_while_locked(loop.time())
        if self.settings.rate_limits:
            now = loop.time()
            moment = self._limits.earliest(product, path, now)
            if moment - now > self.settings.rate_limit_wait_seconds:
                raise GatewayError(429, f"Mango allows fewer {path} requests; try again in a moment.",
                                   retry_after=max(1, math.ceil(moment - now)))
            self._limits.grant(product, path, moment, now)
            if moment > now:
                await asyncio.sleep(moment - now)
                self._refuse_while_locked(loop.time())
        request = protocol.build(self.base_url(product), path, payload, self.settings.api_key, self.settings.api_salt)
        try:
            async with self._session.post(request.url, data=request.body, headers=request.headers,
                                          allow_redirects=False) as reply:
                answer = protocol.parse_answer(reply.status, await reply.read())
        except asyncio.TimeoutError:
            raise GatewayError(504, f"Mango did not answer {path} within {self.settings.timeout_seconds:g} s.") from None
        except aiohttp.ClientError as exc:
            raise GatewayError(502, f"Mango is unreachable: {exc.__class__.__name__}.") from None
        if answer.status == 401:
            self.locked_until = loop.time() + self.settings.lockout_seconds
            log.warning("Mango locked the account out (HTTP 401 on %s): nothing is forwarded for %g s",
                        path, self.settings.lockout_seconds)
            self._refuse_while_locked(loop.time())
        if answer.status == 429:
            raise GatewayError(429, "Mango's rate limit was exceeded.", retry_after=1)
        return request, answer

    def _refuse_while_locked(self, now: float) -> None:
        if now < self.locked_until:
            raise GatewayError(503, "Mango has locked the account out after repeated errors; Herald forwards "
                               "nothing until the lock has passed.", retry_after=max(1, math.ceil(self.locked_until - now)))

    def lockout_seconds_left(self) -> float:
        """How long Mango's lockout still holds the gateway back; 0: not locked."""
        return max(0.0, self.locked_until - asyncio.get_running_loop().time())

    async def close(self) -> None:
        await self._session.close()

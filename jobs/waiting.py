"""Waiting for an event with a time limit, without losing a cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancel that arrives just as the awaited event is
set; a background loop waiting that way then survives its own `stop()`. `asyncio.timeout` does not.
"""

from __future__ import annotations

import asyncio


async def wait_at_most(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True

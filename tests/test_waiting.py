"""wait_at_most: a cancel that arrives together with the event still cancels (the bug that made
the outbox's background loop outlive stop() and hang shutdowns)."""

import asyncio

import pytest

from jobs.waiting import wait_at_most


@pytest.mark.parametrize("steps_between", [0, 1, 2, 3])
async def test_a_cancel_arriving_with_the_event_still_cancels(steps_between):
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_at_most(event, 10))
    await asyncio.sleep(0)
    event.set()
    for _ in range(steps_between):
        await asyncio.sleep(0)
    if waiter.cancel():  # the cancel was taken: the task must end cancelled, not carry on
        with pytest.raises(asyncio.CancelledError):
            await waiter


async def test_it_says_whether_the_event_came():
    event = asyncio.Event()
    assert await wait_at_most(event, 0.01) is False
    event.set()
    assert await wait_at_most(event, 0.01) is True

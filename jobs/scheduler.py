"""The APScheduler instance that runs in the server's event loop, and the jobs put on it."""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.timeutil import UTC


def make_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )

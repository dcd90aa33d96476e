"""The APScheduler instance that runs in the server's event loop, and recurring jobs on it.

A recurring job runs under a database lease (never two runs of one job at once, in the server or
from the command line), and a slot missed while the server was down is run once at start-up,
not once per missed slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from server.timeutil import UTC, utc_now
from storage import job_runs
from storage.db import Database

log = logging.getLogger("herald.scheduler")

STALE_LEASE = timedelta(hours=6)


def make_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )


@dataclass(frozen=True)
class RecurringJob:
    name: str
    crontab: str
    run: Callable[[], Awaitable[object]]


async def run_exclusively(db: Database, name: str, run: Callable[[], Awaitable[object]]) -> bool:
    """Run `run` unless another run of `name` is going on; False when it was skipped."""
    if not await job_runs.take_lease(db, name, utc_now(), STALE_LEASE):
        log.info("%s is still running elsewhere; this run is skipped", name)
        return False
    try:
        await run()
    finally:
        await job_runs.finish(db, name, utc_now())
    return True


async def schedule_recurring(
    scheduler: AsyncIOScheduler, db: Database, jobs: list[RecurringJob], zone: str
) -> list[asyncio.Task]:
    """Put `jobs` on the scheduler; start (in the background) each one whose last slot was missed."""
    catching_up = []
    now = utc_now()
    for job in jobs:
        trigger = CronTrigger.from_crontab(job.crontab, timezone=ZoneInfo(zone))

        async def run_job(job: RecurringJob = job) -> None:
            try:
                await run_exclusively(db, job.name, job.run)
            except Exception:
                log.exception("%s failed", job.name)

        scheduler.add_job(run_job, trigger, id=job.name, replace_existing=True)
        last = await job_runs.last_start(db, job.name, now)
        missed = trigger.get_next_fire_time(None, last + timedelta(microseconds=1))
        if missed is not None and missed <= now:
            log.info("%s missed its run at %s; running it now", job.name, missed.isoformat())
            catching_up.append(asyncio.create_task(run_job(), name=f"catch-up-{job.name}"))
    return catching_up

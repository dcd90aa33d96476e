"""The subscription jobs an operator starts from the admin UI (`update_subscriptions`,
`send_emails`): the same job functions the server's schedule and the commands run, each in a
background task of the server, under the same database lease (jobs/scheduler.run_exclusively). So a
start while a run of that job goes on, here, in the server's schedule or in a command, is refused
and says so; nothing ever runs twice at once. Each run keeps its progress as the commands' bar
takes it (`progress(done, total)`, or `reset(total)` then `update(n)`) and, once finished, its
outcome (the summary the command prints) or why it stopped.

What a run needs is opened for it, as the command opens it (server/resources.py: the price source,
the passport email lookup); the emails go out through the server's email engine, as the scheduled
`send_emails` sends them. Only the last run of each job is kept, in memory: a restart forgets it
(the lease, in `job_runs`, is what every process shares). This module renders nothing and knows
no HTTP; `ManualRuns.close()` (at the server's shutdown) cancels what still runs, which gives its
lease back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from jobs.delivery import DeliveryEngine
from jobs.price_emails import send_emails
from jobs.price_updates import update_subscriptions
from jobs.scheduler import run_exclusively
from server import resources
from server.settings import Settings
from server.timeutil import utc_now
from storage.db import Database

log = logging.getLogger("herald.jobs.admin_runs")


@dataclass
class RunProgress:
    """How far a run is: `done` of `total` (None while the total is not known). Takes both kinds
    of report the jobs make, as jobs/commands.py's Bar does."""

    done: int = 0
    total: int | None = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def reset(self, total: int | None = None) -> None:
        self.done, self.total = 0, total

    def update(self, n: int = 1) -> None:
        self.done += n

    @property
    def percent(self) -> int | None:
        """0..100 rounded down, or None while the total is unknown (a total of 0 is 100 %)."""
        if self.total is None:
            return None
        return min(100, math.floor(100 * self.done / self.total)) if self.total else 100


@dataclass
class Run:
    """One run started from the UI: who started it when, its progress, and how it ended."""

    job: str
    started_by: str
    started_at: datetime
    progress: RunProgress = field(default_factory=RunProgress)
    finished_at: datetime | None = None
    outcome: str | None = None  # the job's summary, as the command prints it
    error: str | None = None  # why it stopped without one
    task: asyncio.Task | None = field(default=None, repr=False, compare=False)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def state(self) -> str:
        """running, done or failed."""
        if self.running:
            return "running"
        return "failed" if self.error is not None else "done"


class AlreadyRunning(Exception):
    """A start refused: a run of the job is going on, started from the UI (`run`) or elsewhere
    (`run` None: the server's schedule or a command holds the lease)."""

    def __init__(self, job: str, run: Run | None) -> None:
        self.job, self.run = job, run
        where = (f"started from this page by {run.started_by} at {run.started_at:%H:%M:%S} UTC" if run
                 else "in the server's schedule or a command")
        super().__init__(f"{job} is already running ({where}); not started again.")


Work = Callable[[RunProgress], Awaitable[object]]


class ManualRuns:
    """The UI's runs of each job: the last one of each, and the task of the one going on."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._runs: dict[str, Run] = {}

    def last(self, job: str) -> Run | None:
        """The job's run going on, else its last one since the server started (None: none)."""
        return self._runs.get(job)

    async def start(self, job: str, work: Work, *, by: str) -> Run:
        """Start `work(progress)` as a run of `job` under its lease, in the background; returns
        once the lease is taken. AlreadyRunning if a run of `job` goes on, here or elsewhere."""
        previous = self._runs.get(job)
        if previous is not None and previous.running:
            raise AlreadyRunning(job, previous)
        run = Run(job, by, utc_now())
        leased: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def under_lease() -> None:
            leased.set_result(True)
            run.outcome = str(await work(run.progress))

        async def body() -> None:
            try:
                if not await run_exclusively(self._db, job, under_lease):
                    leased.set_result(False)
            except asyncio.CancelledError:
                run.error = "cancelled: the server stopped"
                raise
            except Exception as exc:
                log.exception("%s started from the admin UI failed", job, extra={"job": job})
                run.error = f"{type(exc).__name__}: {exc}"
                if not leased.done():
                    leased.set_exception(exc)
            finally:
                run.finished_at = utc_now()
                if not leased.done():
                    leased.cancel()

        self._runs[job] = run  # from here on, a second start is refused at once
        run.task = asyncio.create_task(body(), name=f"admin-run-{job}")
        if not await asyncio.shield(leased):
            if previous is None:  # not run: the page goes on showing the last real one
                del self._runs[job]
            else:
                self._runs[job] = previous
            raise AlreadyRunning(job, None)
        log.info("%s started from the admin UI by %s", job, by, extra={"job": job})
        return run

    async def close(self) -> None:
        """Cancel the runs going on and wait for them (each gives its lease back)."""
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the jobs, as the commands run them ------------------------------------------------------

async def update_prices(db: Database, settings: Settings, progress: RunProgress) -> object:
    """`update_subscriptions` with a price source opened for this run (as the command does)."""
    async with resources.price_source(settings) as source:
        return await update_subscriptions(db, source, progress=progress)


async def send_price_emails(db: Database, outbox: DeliveryEngine, settings: Settings,
                            progress: RunProgress) -> object:
    """`send_emails` through the server's email engine, with the passport email lookup opened for
    this run; `progress` follows the delivery."""
    async with resources.passport_email_lookup(settings) as passport_emails:
        return await send_emails(db, outbox, public_url=settings.server.public_url, progress=progress,
                                 passport_emails=passport_emails)

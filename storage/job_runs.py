"""When each recurring job last ran, and a lease so that two runs of one job never overlap,
whether they are the server's scheduled runs or commands started by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from server.timeutil import from_db, to_db
from storage.db import WriteTransaction, writes
from storage.sql import Q


@writes
def take_lease(tx: WriteTransaction, job: str, now: datetime, stale_after: timedelta) -> bool:
    """True if this run may start; False while another started less than `stale_after` ago runs."""
    return bool(tx.execute(Q.take_job_lease, {
        "job": job, "now": to_db(now), "stale_before": to_db(now - stale_after)}))


@writes
def finish(tx: WriteTransaction, job: str, now: datetime) -> None:
    tx.execute(Q.finish_job_run, {"job": job, "now": to_db(now)})


@writes
def last_start(tx: WriteTransaction, job: str, now: datetime) -> datetime:
    """When the job last started; a job never seen before counts as started now (nothing missed)."""
    tx.execute(Q.note_job_known, {"job": job, "now": to_db(now)})
    return from_db(tx.fetch_one(Q.job_run, {"job": job})["started_at"])

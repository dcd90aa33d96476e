"""Recurring jobs: never two runs at once, a missed slot run once at start-up, not once per slot."""

import asyncio
from datetime import timedelta


from jobs.scheduler import RecurringJob, make_scheduler, run_exclusively, schedule_recurring
from server.timeutil import to_db, utc_now



async def test_a_run_still_going_is_not_started_again(db):
    release = asyncio.Event()
    runs = []

    async def slow():
        runs.append("slow")
        await release.wait()

    first = asyncio.create_task(run_exclusively(db, "update_subscriptions", slow))
    await asyncio.sleep(0.05)
    assert await run_exclusively(db, "update_subscriptions", slow) is False
    release.set()
    assert await first is True
    assert await run_exclusively(db, "update_subscriptions", release.wait) is True
    assert runs == ["slow"]


async def test_a_lease_left_by_a_crash_expires(db):
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO job_runs (job, started_at) VALUES ('send_emails', ?)",
                         (to_db(utc_now() - timedelta(hours=7)),))
    ran = []

    async def job():
        ran.append(1)

    assert await run_exclusively(db, "send_emails", job) is True and ran == [1]


async def test_a_missed_slot_runs_once_at_start_up(db):
    async with db.transaction() as tx:  # last ran 3 hours ago: three hourly slots were missed
        await tx.execute("INSERT INTO job_runs (job, started_at, finished_at) VALUES ('hourly', ?, ?)",
                         (to_db(utc_now() - timedelta(hours=3)),) * 2)
    ran = []

    async def job():
        ran.append(1)

    scheduler = make_scheduler()
    scheduler.start()
    try:
        tasks = await schedule_recurring(scheduler, db, [RecurringJob("hourly", "0 * * * *", job),
                                                         RecurringJob("new", "0 * * * *", job)], "UTC")
        await asyncio.gather(*tasks)
        assert ran == [1]  # once for 'hourly'; 'new' was never seen before, so nothing was missed
        assert {job.id for job in scheduler.get_jobs()} == {"hourly", "new"}
        row = await db.fetch_one("SELECT finished_at FROM job_runs WHERE job = 'hourly'")
        assert row["finished_at"] is not None
        again = await schedule_recurring(scheduler, db, [RecurringJob("hourly", "0 * * * *", job)], "UTC")
        assert again == []  # it has run since its last slot
    finally:
        scheduler.shutdown(wait=False)


async def test_jobs_fire_in_the_configured_zone(db):
    async def job():
        pass

    scheduler = make_scheduler()
    scheduler.start()
    try:
        await schedule_recurring(scheduler, db, [RecurringJob("daily", "15 9 * * *", job)], "Asia/Vladivostok")
        fire = scheduler.get_job("daily").next_run_time
        assert (fire.hour, fire.minute, str(fire.tzinfo)) == (9, 15, "Asia/Vladivostok")
    finally:
        scheduler.shutdown(wait=False)

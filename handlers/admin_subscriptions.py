"""The admin UI's subscriptions pages (seed 001's price alerts): the subscribers (newest first, by
email and by confirmation state), the directions subscribed to (with their newest price) and a
direction's page (its price per day as a uPlot chart drawn by static/admin/charts.js from a JSON
data block, and as a table), the emails sent (confirmations and price changes, by status), and the
runs page, where an operator starts `update_subscriptions` or `send_emails` and follows its
progress (a fragment polled every second).

A run is the same job the server's schedule and the commands run, under the same lease
(jobs/admin_runs.py): a start while a run goes on anywhere is refused with a message. The runs live
under `RUNS`, opened by the cleanup context `runs` (server/app.py lists it after the subscription
schedule, so that it stops, cancelling what still runs, while the database and the email engine
are still open). The pages only read (storage/subscriptions_admin.py); lists are keyset pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web

from handlers.admin_render import redirect, render
from jobs import admin_runs
from jobs.admin_runs import AlreadyRunning, ManualRuns, Work
from jobs.scheduler import STALE_LEASE
from server.admin_auth import SESSION
from server.errors import BadRequest, NotFound, ServiceUnavailable
from server.http import path_id, query, route, whole_number
from server.keys import DB, OUTBOX, SCHEDULER, SETTINGS
from server.timeutil import from_db, utc_now
from storage import subscriptions_admin
from storage.messages import STATUSES
from storage.subscriptions_admin import COUNT_CAP, SUBSCRIBER_STATES

RUNS = web.AppKey("subscription_runs", ManualRuns)  # the runs started from the runs page

PAGE = 50
HISTORY_DAYS = 730  # a direction's chart and table: its newest two years of prices
DIRECTION_SUBSCRIBERS = 50
STATES = {"": "any", "confirmed": "confirmed", "waiting": "waiting", "no_email": "no email yet"}
JOBS = {  # the jobs the runs page starts: what each does, what its progress counts, its schedule's setting
    "update_subscriptions": ("Asks the price index about every direction subscribed to and stores today's "
                             "minimum prices.", "directions", "update_schedule"),
    "send_emails": ("Finds the emails of passport subscribers, queues an email for each price change not "
                    "told yet and sends the emails due.", "emails", "send_schedule"),
}
JOB = "{job:" + "|".join(JOBS) + "}"


async def runs(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context of the runs: cancels those still going when the server stops."""
    app[RUNS] = ManualRuns(app[DB])
    yield
    await app[RUNS].close()


def _state(subscriber: dict[str, Any]) -> str:
    if subscriber["confirmed_at"] is not None:
        return "confirmed"
    return "waiting" if subscriber["email"] is not None else "no_email"


def _subscribers_cursor(params: dict[str, str]) -> tuple[str, str] | None:
    before, before_id = params.get("before", ""), params.get("before_id", "")
    if not before:
        return None
    try:
        from_db(before)
    except ValueError:
        raise BadRequest.field("before", "A time as the pages write it (2026-05-01T10:00:00.000Z).") from None
    if len(before_id) > 64:
        raise BadRequest.field("before_id", "At most 64 characters.")
    return before, before_id


async def subscribers_page(request: web.Request) -> web.Response:
    params = query(request)
    state = params.get("state", "")
    if state not in STATES:
        raise BadRequest.field("state", f"One of {', '.join(SUBSCRIBER_STATES)}, or nothing.")
    q = params.get("q", "").strip()[:200]
    found = await subscriptions_admin.subscribers_page(request.app[DB], state=state, q=q,
                                                       before=_subscribers_cursor(params), limit=PAGE + 1)
    rows = [{**row, "state": _state(row)} for row in found[:PAGE]]
    more = rows[-1] if len(found) > PAGE else None
    return render(request, "subscriptions.html", subscribers=rows, states=STATES, state=state, q=q, more=more)


async def directions_page(request: web.Request) -> web.Response:
    params = query(request)
    q = params.get("q", "").strip()[:200]
    before = whole_number(params, "before", 0, 0, 2**63 - 1) or None
    found = await subscriptions_admin.directions_page(request.app[DB], q=q, before=before, limit=PAGE + 1)
    more = found[PAGE - 1]["id"] if len(found) > PAGE else None
    return render(request, "subscriptions_directions.html", directions=found[:PAGE], q=q, more=more, cap=COUNT_CAP)


def _chart(prices: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's data block: the days (oldest first), their prices and currencies, and the one
    currency of them all (None when it changed)."""
    currencies = [row["currency"] for row in prices]
    return {"days": [row["day"] for row in prices], "prices": [row["price"] for row in prices],
            "currencies": currencies, "currency": currencies[0] if len(set(currencies)) == 1 else None}


async def direction_page(request: web.Request) -> web.Response:
    db, direction_id = request.app[DB], path_id(request)
    direction = await subscriptions_admin.direction(db, direction_id)
    if direction is None:
        raise NotFound(f"There is no direction {direction_id}.")
    prices = await subscriptions_admin.direction_prices(db, direction_id, limit=HISTORY_DAYS)
    subscribers = await subscriptions_admin.direction_subscribers(db, direction_id, limit=DIRECTION_SUBSCRIBERS)
    return render(request, "subscriptions_direction.html", direction=direction, prices=prices, chart=_chart(prices),
                  subscribers=[{**row, "state": _state(row)} for row in subscribers], history_days=HISTORY_DAYS)


async def emails_page(request: web.Request) -> web.Response:
    params = query(request)
    status = params.get("status", "")
    if status not in ("", *STATUSES):
        raise BadRequest.field("status", f"One of {', '.join(STATUSES)}, or nothing.")
    before = whole_number(params, "before", 0, 0, 2**63 - 1) or None
    found = await subscriptions_admin.emails_page(request.app[DB], status=status, before=before, limit=PAGE + 1)
    more = found[PAGE - 1]["id"] if len(found) > PAGE else None
    return render(request, "subscriptions_emails.html", emails=found[:PAGE], statuses=STATUSES, status=status,
                  more=more)


# -- runs ------------------------------------------------------------------------------------

def _runs(request: web.Request) -> ManualRuns:
    if RUNS not in request.app:
        raise ServiceUnavailable("Runs from this page are not set up: the server must open "
                                 "handlers.admin_subscriptions.runs (server/app.py's cleanup contexts).")
    return request.app[RUNS]


def _when(moment: datetime | None) -> str | None:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment is not None else None


async def _job(request: web.Request, name: str) -> dict[str, Any]:
    """What the runs page shows of a job: its run from this page, its lease, its next scheduled run."""
    what, unit, schedule = JOBS[name]
    lease = await subscriptions_admin.job_run(request.app[DB], name)
    started = from_db(lease["started_at"]) if lease else None
    busy = lease is not None and lease["finished_at"] is None and utc_now() - started < STALE_LEASE
    run = _runs(request).last(name)
    scheduled = request.app[SCHEDULER].get_job(name)
    return {"name": name, "what": what, "unit": unit, "run": run, "busy": busy,
            "state": run.state if run else ("elsewhere" if busy else "idle"),
            "polling": busy or (run is not None and run.running),
            "last_started": _when(started), "last_finished": _when(from_db(lease["finished_at"]) if lease else None),
            "next": _when(scheduled.next_run_time) if scheduled and scheduled.next_run_time else None,
            "crontab": getattr(request.app[SETTINGS].subscriptions, schedule)}


async def _runs_page(request: web.Request, http_status: int = 200, problem: str | None = None) -> web.Response:
    started = query(request).get("started", "")
    notice = f"{started} started: its progress follows below." if started in JOBS else None
    jobs = [await _job(request, name) for name in JOBS]
    return render(request, "subscriptions_runs.html", http_status, jobs=jobs, problem=problem, notice=notice,
                  when=_when)


async def runs_page(request: web.Request) -> web.Response:
    return await _runs_page(request)


def _work(app: web.Application, job: str) -> Work:
    db, settings = app[DB], app[SETTINGS]
    if job == "update_subscriptions":
        return lambda progress: admin_runs.update_prices(db, settings, progress)
    return lambda progress: admin_runs.send_price_emails(db, app[OUTBOX], settings, progress)


async def start_run(request: web.Request) -> web.Response:
    job = request.match_info["job"]
    try:
        await _runs(request).start(job, _work(request.app, job), by=request[SESSION].name)
    except AlreadyRunning as refused:
        return await _runs_page(request, 409, problem=str(refused))
    raise redirect(f"/admin/subscriptions/runs?started={job}")


async def run_fragment(request: web.Request) -> web.Response:
    return render(request, "subscriptions_run.html", job=await _job(request, request.match_info["job"]), when=_when)


routes = [
    route("GET", "/admin/subscriptions", subscribers_page),
    route("GET", "/admin/subscriptions/directions", directions_page),
    route("GET", r"/admin/subscriptions/directions/{id:\d+}", direction_page),
    route("GET", "/admin/subscriptions/emails", emails_page),
    route("GET", "/admin/subscriptions/runs", runs_page),
    route("POST", f"/admin/subscriptions/runs/{JOB}", start_run),
    route("GET", f"/admin/fragments/subscriptions/runs/{JOB}", run_fragment),
]

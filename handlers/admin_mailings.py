"""The admin UI's mailings: the list (by state, by text, newest first), a mailing's page (its
counts live, its messages by status, retrying the failed ones), and the form that creates or edits
one. Changes go through jobs/mailing_changes.py and MailingIn, as the /Mailing/ API's do, so the
form refuses what the API refuses, with the same messages, next to the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from handlers.admin_render import redirect, render
from handlers.admin_widgets import progress
from handlers.notification_schemas import MailingIn
from jobs import mailing_changes
from server.errors import BadRequest, NotFound
from server.http import path_id, query, read_body, route, validate, whole_number
from server.keys import DB, DISPATCHER
from server.timeutil import utc_now
from storage import mailings
from storage.messages import STATUSES

PAGE = 50
STATES = {"": "All", "running": "Running", "due": "Due", "ended": "Ended"}
FIELDS = ("message_text", "datetime_start", "datetime_end", "filter_tag", "filter_op_codes", "window_start",
          "window_end")
NOTICES = {"created": "Mailing created.", "saved": "Mailing saved.", "deleted": "Mailing deleted.",
           "retried": "Its failed messages will be tried again."}


def _state(mailing: dict[str, Any], now: datetime) -> str:
    if datetime.fromisoformat(mailing["datetime_end"]) <= now:
        return "ended"
    return "running" if datetime.fromisoformat(mailing["datetime_start"]) <= now else "due"


async def list_page(request: web.Request) -> web.Response:
    params = query(request)
    state = params.get("state", "")
    if state not in STATES:
        raise BadRequest.field("state", f"One of {', '.join(repr(s) for s in STATES if s)}, or nothing.")
    q = params.get("q", "").strip()[:200]
    before = whole_number(params, "before", 0, 0, 2**63 - 1) or None
    found = await mailings.admin_page(request.app[DB], utc_now(), state=state, q=q, before=before, limit=PAGE + 1)
    now = utc_now()
    rows = [{**mailing, "state": _state(mailing, now), "progress": progress(mailing)} for mailing in found[:PAGE]]
    more = rows[-1]["id"] if len(found) > PAGE else None
    return render(request, "mailings.html", mailings=rows, states=STATES, state=state, q=q, more=more,
                  notice=NOTICES.get(params.get("notice", "")))


def _form_values(mailing: dict[str, Any]) -> dict[str, str]:
    """A stored mailing as the form shows it: times as `datetime-local` wants them (UTC)."""
    values = {name: mailing.get(name) or "" for name in FIELDS}
    for name in ("datetime_start", "datetime_end"):
        values[name] = values[name][:16]  # 2026-12-03T14:00:00Z -> 2026-12-03T14:00
    return values


async def new_form(request: web.Request) -> web.Response:
    return render(request, "mailing_form.html", mailing=None, values=dict.fromkeys(FIELDS, ""), errors={})


async def _existing(request: web.Request) -> dict[str, Any]:
    mailing = await mailings.get_mailing_with_counts(request.app[DB], path_id(request))
    if mailing is None:
        raise NotFound(f"There is no mailing {request.match_info['id']}.")
    return mailing


async def edit_form(request: web.Request) -> web.Response:
    mailing = await _existing(request)
    return render(request, "mailing_form.html", mailing=mailing, values=_form_values(mailing), errors={})


async def _validated(request: web.Request, mailing: dict[str, Any] | None) -> MailingIn | web.Response:
    body = await read_body(request)
    values = {name: body.get(name, "") for name in FIELDS}
    try:
        return validate(MailingIn, values)
    except BadRequest as exc:
        return render(request, "mailing_form.html", 400, mailing=mailing, values=values, errors=exc.fields or {})


async def create(request: web.Request) -> web.Response:
    checked = await _validated(request, None)
    if isinstance(checked, web.Response):
        return checked
    created = await mailing_changes.create(request.app[DB], request.app[DISPATCHER], checked.model_dump())
    raise redirect(f"/admin/mailings/{created['id']}?notice=created")


async def save(request: web.Request) -> web.Response:
    mailing = await _existing(request)
    checked = await _validated(request, mailing)
    if isinstance(checked, web.Response):
        return checked
    if await mailing_changes.update(request.app[DB], request.app[DISPATCHER], mailing["id"],
                                    checked.model_dump()) is None:
        raise NotFound(f"There is no mailing {mailing['id']}.")
    raise redirect(f"/admin/mailings/{mailing['id']}?notice=saved")


async def delete(request: web.Request) -> web.Response:
    if not await mailing_changes.delete(request.app[DB], request.app[DISPATCHER], path_id(request)):
        raise NotFound(f"There is no mailing {request.match_info['id']}.")
    raise redirect("/admin/mailings?notice=deleted")


async def retry_failed(request: web.Request) -> web.Response:
    mailing = await _existing(request)
    await mailing_changes.retry_failed(request.app[DB], request.app[DISPATCHER], mailing["id"])
    raise redirect(f"/admin/mailings/{mailing['id']}?notice=retried")


async def _detail(request: web.Request) -> dict[str, Any]:
    mailing = await _existing(request)
    return {**mailing, "state": _state(mailing, utc_now()), "progress": progress(mailing)}


async def detail_page(request: web.Request) -> web.Response:
    mailing = await _detail(request)
    params = query(request)
    status = params.get("status", "")
    if status not in ("", *STATUSES):
        raise BadRequest.field("status", f"One of {', '.join(STATUSES)}, or nothing.")
    after = whole_number(params, "after", 0, 0, 2**63 - 1)
    found = await mailings.admin_messages_page(request.app[DB], mailing["id"], status=status, after=after,
                                               limit=PAGE + 1)
    more = found[PAGE - 1]["id"] if len(found) > PAGE else None
    return render(request, "mailing.html", mailing=mailing, messages=found[:PAGE], statuses=STATUSES,
                  status=status, after=after, more=more, notice=NOTICES.get(params.get("notice", "")))


async def progress_fragment(request: web.Request) -> web.Response:
    return render(request, "_mailing_counts.html", mailing=await _detail(request))


MAILING = r"/admin/mailings/{id:\d+}"
routes = [
    route("GET", "/admin/mailings", list_page),
    route("GET", "/admin/mailings/new", new_form),
    route("POST", "/admin/mailings", create),
    route("GET", MAILING, detail_page),
    route("POST", MAILING, save),
    route("GET", MAILING + "/edit", edit_form),
    route("POST", MAILING + "/delete", delete),
    route("POST", MAILING + "/retry-failed", retry_failed),
    route("GET", r"/admin/fragments/mailings/{id:\d+}/counts", progress_fragment),
]

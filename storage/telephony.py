"""The telephony family's records (seed 004): the one writer of `telephony_commands`,
`telephony_events` and `calls`.

A command forwarded to the PBX is stored before it goes (`start_command`), with Mango's answer
when it comes (`answered`) and its outcome when result/<command> arrives. Every webhook is stored
as received, once (`receive`), and applied in the same transaction: call events build the call of
their entry_id (its state that of the highest seq, whatever order they came in), a summary closes
it and logs it in the caller's history (a SYSTEM_MESSAGE in the CRM: "Incoming call, answered by
101, 2 min 14 s"), a result completes its command (and the SMS it sent), events/sms keeps the
delivery report. Callers and called numbers become contacts (source `PHONE`).

The SMS engine's own SMS (notifications.transport = "mango") have no command row: their
command_id, herald-sms-<message id>-<attempt>, names the message and the try, and their result
decides the message (`messages.pbx_try_outcome`); their delivery report is only kept.

The admin UI's lists (`admin_calls`, `admin_commands`, `admin_webhooks`) read newest first, a page
below an id at a time (keyset: no count, no offset), each filter on an index (0016, 0018).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import orjson

from server.gateways.mango_protocol import code_of, describe, is_success, sms_try_of_command
from server.timeutil import to_db, utc_now
from storage import contacts, messages
from storage.db import Database, Reads, WriteTransaction, reads, writes
from storage.sql import Q

SOURCE = "PHONE"
NO_ID = 2**63 - 1  # above every id: the first page of a keyset list
SYSTEM = "mango"  # the key of external_ids of a caller whose number is not a Russian phone number
DIRECTIONS = {0: "internal", 1: "incoming", 2: "outgoing"}


def _now() -> str:
    return to_db(utc_now())


def _json(data: Any) -> str:
    return orjson.dumps(data).decode()


# -- commands -------------------------------------------------------------------------------


@writes
def start_command(tx: WriteTransaction, command_id: str, endpoint: str, mango_path: str, request: str,
                  message_id: int | None = None) -> bool:
    """Store a command about to be forwarded; False when `command_id` was used before."""
    return tx.execute(Q.insert_command, {"command_id": command_id, "endpoint": endpoint, "mango_path": mango_path,
                                         "request": request, "message_id": message_id, "now": _now()}) == 1


@writes
def answered(tx: WriteTransaction, command_id: str, status: int | None, answer: str) -> None:
    """Mango's immediate answer to the command (status None: none came; `answer` says why)."""
    tx.execute(Q.command_answered, {"command_id": command_id, "status": status, "answer": answer, "now": _now()})


@writes
def log_sms(tx: WriteTransaction, command_id: str, number: str, text: str, *, accepted: bool,
            error: str | None) -> int:
    """The SMS of `/send_sms` in the message log, to the contact of `number`, tied to its command."""
    contact_id = _contact_of(tx, number)
    message_id = messages.log_pbx_sms(tx, contact_id, text, accepted=accepted,
                                      payload={"transport": "mango", "command_id": command_id})
    if error is not None:
        messages.pbx_sms_outcome(tx, message_id, ok=False, code=None, what="result", error=error)
    tx.execute(Q.command_message, {"message_id": message_id, "command_id": command_id})
    # Mango's webhooks may beat its HTTP answer here: what came already counts now.
    for event in tx.fetch_all(Q.events_of_command, {"command_id": command_id}):
        data = orjson.loads(event["body"])
        if event["kind"] == "result/sms":
            _sms_result(tx, message_id, _int(data.get("result")))
        elif event["kind"] == "events/sms":
            _delivery(tx, command_id, data)
    return message_id


@reads
def command(conn: Reads, command_id: str) -> dict[str, Any] | None:
    row = conn.fetch_one(Q.command_by_command_id, {"command_id": command_id})
    if row is None:
        return None
    found = dict(row)
    for name in ("request", "outcome", "message"):
        found[name] = orjson.loads(found[name]) if found[name] is not None else None
    found["webhooks"] = [_event(event) for event in conn.fetch_all(Q.events_of_command, {"command_id": command_id})]
    return found


# -- webhooks -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _int(value: Any) -> int | None:
    return code_of(value)


def _at(value: Any) -> str | None:
    """A unix time of Mango's as the log's UTC text."""
    seconds = _int(value)
    return None if seconds is None else to_db(datetime.fromtimestamp(seconds, timezone.utc))


def _party(data: dict[str, Any], name: str) -> dict[str, Any]:
    party = data.get(name)
    return party if isinstance(party, dict) else {}


@writes
def receive(tx: WriteTransaction, kind: str, path: str, json_text: str, data: dict[str, Any]) -> bool:
    """Store a webhook as received and apply it; False (and nothing done) when it came before."""
    seq = _int(data.get("seq"))
    stored = tx.fetch_value(Q.insert_telephony_event, {
        "kind": kind, "path": path, "body": json_text,
        "digest": hashlib.sha256(f"{kind}\n{json_text}".encode()).hexdigest(),
        "entry_id": _text(data.get("entry_id")), "call_id": _text(data.get("call_id")), "seq": seq,
        "command_id": _text(data.get("command_id")), "now": _now()})
    if stored is None:
        return False
    if kind == "events/call" and data.get("entry_id") is not None:
        _call_event(tx, data, seq)
    elif kind == "events/summary" and data.get("entry_id") is not None:
        _summary(tx, data)
    elif kind.startswith("result/") and data.get("command_id") is not None:
        _result(tx, str(data["command_id"]), data)
    elif kind == "events/sms" and data.get("command_id") is not None:
        _delivery(tx, str(data["command_id"]), data)
    return True


def _call_event(tx: WriteTransaction, data: dict[str, Any], seq: int | None) -> None:
    caller, called = _party(data, "from"), _party(data, "to")
    tx.fetch_one(Q.upsert_call_event, {
        "entry_id": str(data["entry_id"]), "state": _text(data.get("call_state")), "seq": seq if seq is not None else -1,
        "from_number": _text(caller.get("number")), "from_extension": _text(caller.get("extension")),
        "to_number": _text(called.get("number")), "to_extension": _text(called.get("extension")),
        "line_number": _text(called.get("line_number")), "at": _at(data.get("timestamp")), "now": _now()})


def _summary(tx: WriteTransaction, data: dict[str, Any]) -> None:
    caller, called = _party(data, "from"), _party(data, "to")
    direction = DIRECTIONS.get(_int(data.get("call_direction")))
    talk = _int(data.get("talk_time"))
    call = tx.fetch_one(Q.close_call, {
        "entry_id": str(data["entry_id"]), "direction": direction,
        "from_number": _text(caller.get("number")), "from_extension": _text(caller.get("extension")),
        "to_number": _text(called.get("number")), "to_extension": _text(called.get("extension")),
        "line_number": _text(data.get("line_number")), "started_at": _at(data.get("create_time")),
        "answered_at": _at(data.get("forward_time")) if talk else None, "ended_at": _at(data.get("end_time")),
        "talk_seconds": talk, "answered": _int(data.get("entry_result")),
        "disconnect_reason": _int(data.get("disconnect_reason")), "summary": _json(data), "now": _now()})
    if call is None:  # this call was summed up before
        return
    number = caller.get("number") if direction != "outgoing" else called.get("number")
    if not number:
        return
    contact_id = call["contact_id"] or _contact_of(tx, str(number))
    tx.execute(Q.set_call_contact, {"id": call["id"], "contact_id": contact_id})
    extension = call["answered_by"] or called.get("extension") or call["to_extension"]
    messages.record_event(tx, contact_id, call_text(direction, _int(data.get("entry_result")), talk,
                                                    extension, called.get("number") or None),
                          sender="pbx", now=utc_now())


def call_text(direction: str | None, result: int | None, talk_seconds: int | None, extension: str | None,
              number: str | None) -> str:
    """"Incoming call, answered by 101, 2 min 14 s", "Missed incoming call", "Outgoing call to
    79001234567, 35 s"."""
    kind = f"{direction or 'a'} call".capitalize()
    if not talk_seconds and result != 1:
        return f"Missed {kind.lower()}" if direction == "incoming" else f"{kind}, not answered"
    minutes, seconds = divmod(talk_seconds or 0, 60)
    length = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    if direction == "outgoing":
        return f"{kind} to {number}, {length}" if number else f"{kind}, {length}"
    return f"{kind}, answered by {extension}, {length}" if extension else f"{kind}, {length}"


def _result(tx: WriteTransaction, command_id: str, data: dict[str, Any]) -> None:
    code = _int(data.get("result"))
    done = tx.fetch_one(Q.command_completed, {"command_id": command_id, "result": code, "outcome": _json(data),
                                              "now": _now()})
    if done is not None and done["message_id"] is not None:
        _sms_result(tx, done["message_id"], code)
    elif done is None and code is not None and (sms_try := sms_try_of_command(command_id)) is not None:
        ok = is_success(code)
        messages.pbx_try_outcome(tx, *sms_try, ok=ok, code=code,
                                 error=None if ok else f"PBX result {code}: {describe(code)}")


def _sms_result(tx: WriteTransaction, message_id: int, code: int | None) -> None:
    if code is not None:
        messages.pbx_sms_outcome(tx, message_id, ok=is_success(code), code=code, what="result",
                                 error=None if is_success(code) else f"PBX result {code}: {describe(code)}")


def _delivery(tx: WriteTransaction, command_id: str, data: dict[str, Any]) -> None:
    message_id = tx.fetch_value(Q.message_of_command, {"command_id": command_id})
    code = _int(data.get("reason"))
    if code is None:
        return
    if message_id is None:
        if (sms_try := sms_try_of_command(command_id)) is not None:
            messages.pbx_report(tx, sms_try[0], "delivery", code)  # the engine's SMS: its result decides
        return
    messages.pbx_sms_outcome(tx, message_id, ok=is_success(code), code=code, what="delivery",
                             error=None if is_success(code) else f"PBX delivery report {code}: {describe(code)}")


def _contact_of(tx: WriteTransaction, number: str) -> int:
    """The live contact with this number (a Russian one as the directory writes it, 7XXXXXXXXXX),
    else a new one from the PBX (source PHONE)."""
    digits = "".join(char for char in number if char.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        phone = "7" + digits[1:]
        found = contacts.find_by_phone(tx, phone)
        if found is not None:
            return found["id"]
        return contacts.create(tx, phone_number=phone, operator_code=phone[1:4], source=SOURCE)
    found_id = contacts.find_id_by_external_id(tx, SYSTEM, number)
    if found_id is not None:
        return found_id
    return contacts.create(tx, source=SOURCE, external_ids={SYSTEM: number})


# -- calls ------------------------------------------------------------------------------------


def _event(row) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "received_at": row["received_at"], "data": orjson.loads(row["body"])}


@reads
def calls(conn: Reads, *, number: str | None, extension: str | None, since: str | None, until: str | None,
          limit: int, offset: int) -> list[dict[str, Any]]:
    ids = [row[0] for row in conn.fetch_all(Q.list_calls, {"number": number, "extension": extension, "since": since,
                                                           "until": until, "limit": limit, "offset": offset})]
    return [dict(row) for row in conn.fetch_all(Q.calls_by_ids, {"ids": _json(ids)})]


@reads
def call(conn: Reads, call_id: int) -> dict[str, Any] | None:
    row = conn.fetch_one(Q.call_by_id, {"id": call_id})
    if row is None:
        return None
    found = dict(row)
    found["events"] = [_event(event) for event in conn.fetch_all(Q.events_of_call, {"entry_id": found["entry_id"]})]
    return found


# -- the admin UI's lists (handlers/admin_telephony.py) -------------------------------------------


async def admin_calls(db: Database, *, number: str | None, extension: str | None, before: int | None,
                      limit: int) -> list[dict[str, Any]]:
    """Calls newest first, `limit` of them below id `before`: of a number (either party's), of an
    extension (either party's, or the one that answered), of both, or all. One filter walks its
    indexes; both at once walk the number's calls for the extension, on the thread reader."""
    params = {"number": number, "extension": extension, "before": before or NO_ID, "limit": limit}
    if number is not None and extension is not None:
        return await db.slow.fetch_all(Q.admin_calls_of_number, params)
    query = Q.admin_calls_of_number if number is not None else \
        Q.admin_calls_of_extension if extension is not None else Q.admin_calls
    return [dict(row) for row in await db.fetch_all(query, params)]


@reads
def admin_commands(conn: Reads, *, endpoint: str | None, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Commands newest first, `limit` of them below id `before`, of one endpoint (None: any)."""
    query = Q.admin_commands if endpoint is None else Q.admin_commands_of_endpoint
    return [dict(row) for row in conn.fetch_all(query, {"endpoint": endpoint, "before": before or NO_ID,
                                                        "limit": limit})]


@reads
def admin_webhooks(conn: Reads, *, kind: str | None, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Webhooks as received, newest first, `limit` of them below id `before`, of one kind (None:
    any); each with `data` (its json), `call` (the id of its call, if any) and `command_stored`."""
    query = Q.admin_webhooks if kind is None else Q.admin_webhooks_of_kind
    rows = conn.fetch_all(query, {"kind": kind, "before": before or NO_ID, "limit": limit})
    return [{**row, "data": orjson.loads(row["body"]), "command_stored": bool(row["command_stored"])}
            for row in map(dict, rows)]

"""The chatbot's templates (seed 000): the one writer of `chat_templates`.

A sender profile (a contact from the dating site) has templates; a mailing gives each man one she
has never given him, the least given first (ties: the oldest), and writes it to the message log
(channel `chat`, status `pending`) in the same write that picks it. The dedupe key
`chat:<template id>:<man's contact id>` is unique in the log, so a template can be given to a man
once, whatever runs at the same time; a failed send frees it (storage/messages.py). `given` counts
each template's messages that did not fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from server.timeutil import to_db, utc_now
from storage import contacts, messages
from storage.db import WriteTransaction, writes
from storage.sql import Q

SYSTEM = "victoriabrides"  # the key of external_ids
SOURCE = "VICTORIABRIDES"
CHANNEL = "chat"
_PLACEHOLDER = re.compile(r"\{(name|age|country|city)\}")


@dataclass(frozen=True)
class Person:
    """A profile as the site sends it: its id there, its name and the attributes Herald keeps."""

    id_user: str
    name: str | None
    attributes: Mapping[str, Any]


def sender_of(profile_contact_id: int) -> str:
    """The `sender` of a profile's messages in the log."""
    return f"contact:{profile_contact_id}"


def fill(text: str, attributes: Mapping[str, Any]) -> str:
    """`{name}`, `{age}`, `{country}`, `{city}` filled from the man's profile (empty when he has
    none); any other `{...}` stays as written."""
    def value(match: re.Match) -> str:
        found = attributes.get(match[1])
        return "" if found is None else str(found)
    return _PLACEHOLDER.sub(value, text)


def _upsert(tx: WriteTransaction, person: Person) -> int:
    return contacts.upsert_by_external_id(tx, SYSTEM, person.id_user, name=person.name, source=SOURCE,
                                          attributes=dict(person.attributes))


@writes
def add_templates(tx: WriteTransaction, profile: Person, texts: Iterable[str]) -> int:
    """Store the profile's templates (the profile upserted into the directory); returns how many
    were new (one she already has is ignored)."""
    profile_id = _upsert(tx, profile)
    now = to_db(utc_now())
    return sum(tx.execute(Q.insert_chat_template, {"profile": profile_id, "text": text, "now": now})
               for text in dict.fromkeys(texts))


@writes
def give(tx: WriteTransaction, profile_id_user: str, men: Iterable[Person]) -> dict[str, str] | None:
    """Each man (upserted into the directory) given one of the profile's templates: {id_user: text}
    of those who got one. None when the profile has no templates."""
    profile_id = contacts.find_id_by_external_id(tx, SYSTEM, profile_id_user)
    rows = tx.fetch_all(Q.chat_templates_of, {"profile": profile_id}) if profile_id is not None else []
    if not rows:
        return None
    sender = sender_of(profile_id)
    texts = {row["id"]: row["text"] for row in rows}
    given = {row["id"]: row["given"] for row in rows}
    added: dict[int, int] = {}
    chosen: dict[str, str] = {}
    for man in {man.id_user: man for man in men}.values():
        contact_id = _upsert(tx, man)
        had = messages.chat_templates_given(tx, contact_id)
        for template_id in sorted((t for t in texts if t not in had), key=lambda t: (given[t], t)):
            body = fill(texts[template_id], man.attributes)
            payload = orjson.dumps({"template_id": template_id, "id_user": man.id_user}).decode()
            if messages.enqueue(tx, CHANNEL, contact_id, body=body, payload=payload, sender=sender,
                                dedupe_key=f"chat:{template_id}:{contact_id}") is not None:
                given[template_id] += 1
                added[template_id] = added.get(template_id, 0) + 1
                chosen[man.id_user] = body
                break
    tx.execute_many(Q.add_chat_template_given, ({"id": t, "n": n} for t, n in added.items()))
    return chosen


@writes
def report(tx: WriteTransaction, man_id_user: str, profile_id_user: str, text: str, *, site_message_id: int,
           sent: bool, at: datetime, errors: str | None, profiles: Iterable[Person] = ()) -> str | None:
    """The site's report on the message `text` from the profile to the man: the message's status
    now (`sent` or `failed`; a failed one frees its template for him), None when no message of
    theirs matches. The same report again changes nothing. `profiles` are upserted first."""
    for person in profiles:
        _upsert(tx, person)
    man = contacts.find_id_by_external_id(tx, SYSTEM, man_id_user)
    profile = contacts.find_id_by_external_id(tx, SYSTEM, profile_id_user)
    if man is None or profile is None:
        return None
    outcome = messages.report_chat(tx, messages.ChatReport(man, sender_of(profile), text, site_message_id,
                                                           sent, at, errors))
    if outcome is None:
        return None
    status, payload = outcome
    if status == "failed" and payload is not None and "template_id" in payload:
        tx.execute(Q.add_chat_template_given, {"id": payload["template_id"], "n": -1})
    return status

"""The chatbot's templates (seed 000): the one writer of `chat_templates`.

A sender profile (a contact from the dating site) has templates; a mailing gives each man one she
has never given him, the least given first (ties: the oldest), and writes it to the message log
(channel `chat`, status `pending`) in the same write that picks it. The dedupe key
`chat:<template id>:<man's contact id>` is unique in the log, so a template can be given to a man
once, whatever runs at the same time; a failed send frees it (storage/messages.py). `given` counts
each template's messages that did not fail (the men who hold it), `handed` every time a mailing
gave it, failed sends too.

A removed template (`remove_template`) is never given again, but nothing of it is deleted: its
counts, its messages and the men who hold it stay, and adding its text again brings it back as it
was. The admin UI reads the profiles and their templates here (`profiles_page`, `profile`,
`templates_page`), a page at a time along indexes.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from server.timeutil import to_db, utc_now
from storage import contacts, messages, platform_users
from storage.db import Database, Reads, WriteTransaction, reads, writes
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
    """Store the profile's templates (the profile upserted into the directory, and a platform
    user of the CRM's, not an account); returns how many were new or brought back (one she had
    removed is hers again, as it was; one she already has is ignored)."""
    profile_id = _upsert(tx, profile)
    platform_users.for_contact(tx, profile_id, profile.name)
    now = to_db(utc_now())
    return sum(tx.execute(Q.insert_chat_template, {"profile": profile_id, "text": text, "now": now})
               for text in dict.fromkeys(texts))


def _upsert_all(tx: WriteTransaction, people: Iterable[Person]) -> dict[str, int]:
    """`_upsert` of each person, {id_user: contact id}: one read finds those the directory knows;
    only the new and the changed are written."""
    people = list(people)
    known: dict[str, Any] = {}
    for row in tx.fetch_all(Q.chat_men_by_site_id, {"ids": orjson.dumps([p.id_user for p in people]).decode()}):
        known.setdefault(row["id_user"], row)
    ids = {}
    for person in people:
        row = known.get(person.id_user)
        if row is not None and row["name"] == person.name:
            attributes = orjson.loads(row["attributes"])
            if {**attributes, **person.attributes} == attributes:
                ids[person.id_user] = row["id"]
                continue
        ids[person.id_user] = _upsert(tx, person)
    return ids


def _least_given_not_held(heap: list[tuple[int, int]], given: dict[int, int], held: set[int]) -> int | None:
    """The template given least (ties: the oldest) that is not in `held`, now counted as given
    once more in `given` and in `heap` (of (given, id)); None when `held` has them all."""
    if len(held) >= len(given):  # held: this profile's templates only
        return None
    skipped = []
    while (entry := heapq.heappop(heap))[1] in held:
        skipped.append(entry)
    for other in skipped:
        heapq.heappush(heap, other)
    template_id = entry[1]
    given[template_id] += 1
    heapq.heappush(heap, (given[template_id], template_id))
    return template_id


@writes
def give(tx: WriteTransaction, profile_id_user: str, men: Iterable[Person]) -> dict[str, str] | None:
    """Each man (upserted into the directory) given one of the profile's templates: {id_user: text}
    of those who got one. None when the profile has no templates.

    Set-based: one read finds the men in the directory, one the templates they hold, one insert
    writes every choice (only men new or changed are written one by one, by storage/contacts.py).
    A choice whose key is taken all the same (the unique key decides, not this read) is chosen again."""
    profile_id = contacts.find_id_by_external_id(tx, SYSTEM, profile_id_user)
    rows = tx.fetch_all(Q.chat_templates_of, {"profile": profile_id}) if profile_id is not None else []
    if not rows:
        return None
    sender = sender_of(profile_id)
    texts = {row["id"]: row["text"] for row in rows}
    given_before = {row["id"]: row["given"] for row in rows}
    given = dict(given_before)
    heap = [(count, template_id) for template_id, count in given.items()]
    heapq.heapify(heap)
    team = {man.id_user: man for man in men}
    contact_of = _upsert_all(tx, team.values())
    held = messages.chat_templates_held(tx, contact_of.values(), given)
    chosen: dict[str, str] = {}
    choosing = list(team.values())
    while choosing:
        picks: dict[str, tuple[Person, int, str]] = {}
        for man in choosing:
            contact_id = contact_of[man.id_user]
            template_id = _least_given_not_held(heap, given, held.setdefault(contact_id, set()))
            if template_id is not None:
                picks[f"chat:{template_id}:{contact_id}"] = (man, template_id, fill(texts[template_id], man.attributes))
        written = messages.enqueue_chat(tx, sender, (
            {"contact_id": contact_of[man.id_user], "body": body, "dedupe_key": key,
             "payload": orjson.dumps({"template_id": template_id, "id_user": man.id_user}).decode()}
            for key, (man, template_id, body) in picks.items()))
        choosing = []
        for key, (man, template_id, body) in picks.items():
            if key in written:
                chosen[man.id_user] = body
            else:
                given[template_id] -= 1
                held[contact_of[man.id_user]].add(template_id)
                choosing.append(man)
        if choosing:
            heap = [(count, template_id) for template_id, count in given.items()]
            heapq.heapify(heap)
    tx.execute_many(Q.add_chat_template_given, ({"id": template_id, "n": count - given_before[template_id]}
                                                for template_id, count in given.items()
                                                if count != given_before[template_id]))
    return {id_user: chosen[id_user] for id_user in team if id_user in chosen}


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


@writes
def remove_template(tx: WriteTransaction, profile_id: int, template_id: int) -> bool:
    """The profile's template never given again (its counts and messages kept: see the module);
    False when she has no template `template_id`. Removing a removed one changes nothing."""
    return tx.execute(Q.remove_chat_template, {"profile": profile_id, "id": template_id,
                                               "now": to_db(utc_now())}) == 1


def _like(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for "contains `text`"."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def profiles_page(db: Database, *, q: str | None, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Sender profiles newest first below contact id `before`: id (her contact's), name, id_user,
    created_at (when she became one), templates (not removed), handed (how often hers were given
    in all); with `q`, those whose name contains it or whose id_user it is. On the thread reader:
    each row sums her templates, and a search scans the profiles."""
    return await db.slow.fetch_all(Q.chat_profiles_page, {
        "pattern": None if q is None else _like(q), "id_user": q, "before": before or 2**63 - 1, "limit": limit})


@reads
def profile(conn: Reads, profile_id: int) -> dict[str, Any] | None:
    """The sender profile whose contact is `profile_id`, as `profiles_page` has it, with `removed`
    (templates removed) and `given` (how many of the times hers were given did not fail); None
    when that contact is no (live) sender profile."""
    row = conn.fetch_one(Q.chat_profile, {"id": profile_id})
    return None if row is None else dict(row)


@reads
def templates_page(conn: Reads, profile_id: int, *, most_handed: bool, before: tuple[int, int] | None,
                   limit: int) -> list[dict[str, Any]]:
    """A page of the profile's templates, removed ones too (`removed_at` set): id, text, handed,
    given, created_at, removed_at. Newest first below id `before[1]`, or (`most_handed`) the most
    handed out first below `before` = (handed, id); None: the first page."""
    handed, below = before or (2**63 - 1, 2**63 - 1)
    if most_handed:
        rows = conn.fetch_all(Q.chat_templates_most_handed, {"profile": profile_id, "handed": handed,
                                                              "before": below, "limit": limit})
    else:
        rows = conn.fetch_all(Q.chat_templates_newest, {"profile": profile_id, "before": below, "limit": limit})
    return [dict(row) for row in rows]

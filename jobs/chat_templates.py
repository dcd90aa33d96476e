"""What adding and removing a sender profile's chatbot templates does, for every way of doing it
(POST /chatbot/templates/, the admin UI's profile page): one code path, so both refuse the same
texts with the same messages and store them alike.

`add` takes the body as POST /chatbot/templates/ has it ({"templates": [...], "profile": {...}}),
checks it with TemplatesIn (a BadRequest naming `templates` says why: blank, too long, too many)
and stores it with storage/chat.py. It must not know how the texts were typed: the admin UI turns
its lines into that body.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.chatbot_schemas import Profile, TemplatesIn
from server.http import validate
from storage import chat
from storage.db import Database

log = logging.getLogger("herald.chatbot")


def person(profile: Profile) -> chat.Person:
    """A profile as the site sent it, as storage/chat.py keeps it."""
    return chat.Person(str(profile.id_user), profile.name, profile.attributes())


async def add(db: Database, body: dict[str, Any]) -> int:
    """The templates of `body` stored for its profile; how many were new or brought back."""
    params = validate(TemplatesIn, body)
    received = await chat.add_templates(db, person(params.profile), params.templates)
    log.info("templates added", extra={"id_user": params.profile.id_user, "received": received})
    return received


async def remove(db: Database, profile_id: int, template_id: int) -> bool:
    """The profile's template never given again, its history kept; False if she has no such one."""
    if not await chat.remove_template(db, profile_id, template_id):
        return False
    log.info("template removed", extra={"contact_id": profile_id, "template_id": template_id})
    return True

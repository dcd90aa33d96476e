"""storage/platform_users.py: operators and chatbot sender profiles, on a real SQLite file."""

from __future__ import annotations

from storage import contacts, platform_users
from storage.db import Database


async def test_a_sender_profile_is_one_platform_user_whose_name_follows_the_profile(db: Database):
    profile = await contacts.create(db, name="Olga", source="VICTORIABRIDES")
    first = await platform_users.for_contact(db, profile, "Olga")
    again = await platform_users.for_contact(db, profile, "Olga K.")

    assert again == first
    user = await platform_users.get(db, first)
    assert (user["name"], user["contact_id"]) == ("Olga K.", profile)


async def test_operators_are_listed_newest_first_with_their_count(db: Database):
    ids = [await platform_users.create(db, f"Operator {n}", email=f"op{n}@example.com") for n in range(3)]

    total, page = await platform_users.page(db, limit=2, offset=0)
    assert (total, [user["id"] for user in page]) == (3, [ids[2], ids[1]])
    assert platform_users.sender_of(ids[0]) == f"user:{ids[0]}"
    assert await platform_users.get(db, ids[-1] + 1) is None

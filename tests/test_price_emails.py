"""jobs/price_emails.py: which price changes become emails, what their `content` holds, and the
send_emails / send_email_to commands end to end (real SQLite file, real aiosmtpd server).

Subscribers, directions, subscriptions and prices are inserted with plain SQL, as the subscribe
API and the price updates would leave them. The helpers here are shared with tests/test_outbox.py.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


from jobs.delivery import DeliveryEngine
from jobs.email_channel import EmailChannel, email_engine
from jobs.price_emails import queue_price_emails, send_emails
from server.gateways.email import EmailSender
from server.links import unsubscribe_by_direction_link, unsubscribe_by_direction_page_link
from server.settings import EmailSettings, SmtpSettings
from storage.db import Database, migration_files
from tests.smtp_server import SmtpTestServer

PUBLIC_URL = "https://herald.example.com"
SENDER = "Herald <herald@example.com>"
T0 = "2026-05-01T00:00:00.000Z"
QKEY = "c213_c239_2026-05-12_2026-05-15_economy_1_0_0_ru"
CHEAPEST_QKEY = "c213_c239_2026-05-13_2026-05-17_economy_1_0_0_ru"  # date_range moved it a day
ONE_WAY_QKEY = "c213_c2_2026-12-01_None_economy_1_0_0_ru"
LEG = {"departure_time": "12:00", "arrival_time": "13:10", "departure_date": "13.05",
       "arrival_date": "13.05", "airlines": "Уральские авиалинии, Победа", "airlines_count": 2,
       "airline_avatar": None, "connections": "1 пересадка"}
POINTS = itertools.count(300)  # a distinct destination for each extra direction
BACK_LEG = {**LEG, "departure_time": "18:40", "arrival_time": "20:00", "departure_date": "17.05",
            "arrival_date": "17.05", "connections": "прямой"}


def details(price: float, currency: str = "RUR", **changes: Any) -> str:
    """The price index's details for the Moscow — Sochi direction, as the price updates store it."""
    value = {
        "qkey": QKEY, "found": True,
        "min_price": {"price": price, "currency": currency, "qkey": CHEAPEST_QKEY,
                      "forward": LEG, "backward": BACK_LEG,
                      "order_link": "https://avia.example.com/order/?v=abc&x=1"},
        "point_from": "Москва", "point_to": "Сочи",
        "avia_search_link": "https://avia.example.com/search/?from=c213&to=c239",
        "calendar_link": "https://avia.example.com/calendar/?from=c213&to=c239",
        "popular_section_variants_data": {"variants": [{"title": "Москва — Казань", "price": 3100,
                                                         "currency": "RUR", "forward": LEG,
                                                         "order_link": "https://avia.example.com/order/?v=kzn"}]},
        "other_data": {"min_price_variant_data": {"price": 3900, "currency": "RUR", "forward": LEG,
                                                  "order_link": "https://avia.example.com/order/?v=nofilter"}},
        **changes,
    }
    return json.dumps(value, ensure_ascii=False)


# -- the database --------------------------------------------------------------------------------



async def add_subscriber(db: Database, email: str, *, confirmed: bool = True,
                         subscriber_id: str | None = None) -> str:
    subscriber_id = subscriber_id or f"sub-{email.split('@')[0]}"
    async with db.transaction() as tx:
        contact_id = await tx.fetch_value(
            "INSERT INTO contacts (email, created_at, updated_at) VALUES (?, ?, ?) RETURNING id",
            (email, T0, T0))
        await tx.execute(
            "INSERT INTO subscribers (id, contact_id, email, confirmed_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (subscriber_id, contact_id, email, T0 if confirmed else None, T0, T0))
    return subscriber_id


async def add_direction(db: Database, qkey: str = QKEY) -> int:
    async with db.transaction() as tx:
        return await tx.fetch_value(
            "INSERT INTO directions (qkey, date_range, created_at) VALUES (?, 1, ?) RETURNING id", (qkey, T0))


async def subscribe(db: Database, subscriber_id: str, direction_id: int, qkey: str = QKEY) -> int:
    async with db.transaction() as tx:
        return await tx.fetch_value(
            "INSERT INTO subscriptions (subscriber_id, direction_id, qkey, date_range, created_at, updated_at)"
            " VALUES (?, ?, ?, 1, ?, ?) RETURNING id", (subscriber_id, direction_id, qkey, T0, T0))


async def set_price(db: Database, direction_id: int, day: str, price: float, currency: str = "RUR",
                    details_json: str | None = None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO direction_prices (direction_id, day, price, currency, details, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (direction_id, day) DO UPDATE"
            " SET price = excluded.price, currency = excluded.currency, details = excluded.details",
            (direction_id, day, price, currency,
             details(price, currency) if details_json is None else details_json, T0))


async def sql(db: Database, statement: str, params: tuple = ()) -> None:
    async with db.transaction() as tx:
        await tx.execute(statement, params)


async def email_rows(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all("SELECT * FROM messages WHERE channel = 'email' ORDER BY id")
    return [{**dict(row), "payload": json.loads(row["payload"]) if row["payload"] else None} for row in rows]


async def subscription_row(db: Database, subscription_id: int) -> dict[str, Any]:
    return dict(await db.fetch_one("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)))


async def changed_subscription(db: Database, email: str = "anna@example.com", *, confirmed: bool = True,
                               old: float = 5000, new: float = 4500) -> tuple[str, int, int]:
    """A subscriber whose direction cost `old` yesterday and `new` today: (subscriber, direction,
    subscription)."""
    qkey = QKEY if email == "anna@example.com" else f"c213_c{next(POINTS)}_2026-05-12_2026-05-15_economy_1_0_0_ru"
    subscriber_id = await add_subscriber(db, email, confirmed=confirmed)
    direction_id = await add_direction(db, qkey)
    subscription_id = await subscribe(db, subscriber_id, direction_id, qkey)
    await set_price(db, direction_id, "2026-05-01", old)
    await set_price(db, direction_id, "2026-05-02", new)
    return subscriber_id, direction_id, subscription_id


@asynccontextmanager
async def running_outbox(db: Database, server: SmtpTestServer, **email: Any) -> AsyncIterator[DeliveryEngine[EmailChannel]]:
    """An email engine (not started) over an EmailSender connected to `server`."""
    sender = EmailSender(SmtpSettings(transport="smtp", host=server.host, port=server.port,
                                      pool_size=2, timeout_seconds=5, from_address=SENDER))
    await sender.start()
    try:
        yield email_engine(db, sender, EmailSettings(**email))
    finally:
        await sender.close()


# -- which changes become emails -----------------------------------------------------------------


async def test_a_first_change_is_emailed_with_yesterdays_price_as_the_old_one(db):
    subscriber_id, _, subscription_id = await changed_subscription(db, old=5000, new=4500)

    created = await queue_price_emails(db, public_url=PUBLIC_URL)

    [email] = await email_rows(db)
    assert created == 1
    assert email["status"] == "pending" and email["channel"] == "email" and email["next_attempt_at"]
    assert email["contact_id"] == await db.fetch_value(
        "SELECT contact_id FROM subscribers WHERE id = ?", (subscriber_id,))
    assert email["dedupe_key"] == f"price:{subscription_id}:2026-05-02:4500.0:RUR"
    payload = email["payload"]
    assert {k: payload[k] for k in ("kind", "to", "subscriber_id", "subscription_id", "price", "currency")} == {
        "kind": "price_change", "to": "anna@example.com", "subscriber_id": subscriber_id,
        "subscription_id": subscription_id, "price": 4500, "currency": "RUR"}
    content = payload["content"]
    assert (content["old_price"], content["old_currency"], content["diff"]) == (5000, "RUR", -500)


async def test_the_content_has_exactly_the_seeds_structure(db):
    subscriber_id, _, _ = await changed_subscription(db, old=5000, new=4500)

    await queue_price_emails(db, public_url=PUBLIC_URL)

    [email] = await email_rows(db)
    assert email["payload"]["content"] == {
        "diff": -500,
        "point_from": "Москва",
        "point_to": "Сочи",
        "date_forward": "13 мая",  # from the cheapest variant's qkey, in the genitive
        "date_backward": "17 мая",
        "price": 4500,
        "currency": "RUR",
        "old_price": 5000,
        "old_currency": "RUR",
        "unsubscribe_by_direction_link": unsubscribe_by_direction_page_link(PUBLIC_URL, subscriber_id, QKEY),
        "avia_search_link": "https://avia.example.com/search/?from=c213&to=c239",
        "calendar_link": "https://avia.example.com/calendar/?from=c213&to=c239",
        "min_price_variant_data": {"forward": LEG, "backward": BACK_LEG, "price": 4500, "currency": "RUR",
                                   "order_link": "https://avia.example.com/order/?v=abc&x=1"},
        "popular_section_variants_data": json.loads(details(0))["popular_section_variants_data"],
        "other_data": json.loads(details(0))["other_data"],
    }
    assert list(email["payload"]["content"])[:4] == ["diff", "point_from", "point_to", "date_forward"]
    assert email["payload"]["content"]["unsubscribe_by_direction_link"].startswith(
        "https://herald.example.com/email_subscription/v1.0/unsubscribe/by_direction/page?id=")
    # The page asks first; List-Unsubscribe names the API route, which acts on RFC 8058's POST.
    assert email["payload"]["list_unsubscribe"] == unsubscribe_by_direction_link(PUBLIC_URL, subscriber_id, QKEY)


async def test_missing_details_fall_back_to_the_subscription_and_empty_sections(db):
    subscriber_id = await add_subscriber(db, "anna@example.com")
    direction_id = await add_direction(db, ONE_WAY_QKEY)
    await subscribe(db, subscriber_id, direction_id, ONE_WAY_QKEY)
    await set_price(db, direction_id, "2026-05-01", 100, "EUR", details_json="not json")
    await set_price(db, direction_id, "2026-05-02", 80.5, "EUR", details_json='{"min_price": 7}')

    await queue_price_emails(db, public_url=PUBLIC_URL)

    content = (await email_rows(db))[0]["payload"]["content"]
    assert content["date_forward"] == "1 декабря"
    assert "date_backward" not in content  # one way
    assert (content["point_from"], content["point_to"]) == ("c213", "c2")
    assert content["min_price_variant_data"] == {"forward": {}, "backward": {}, "price": 80.5,
                                                 "currency": "EUR", "order_link": None}
    assert content["popular_section_variants_data"] == {} and content["other_data"] == {}
    assert content["avia_search_link"] is None and content["calendar_link"] is None
    assert content["diff"] == -19.5


async def test_no_email_without_a_change_or_without_a_baseline(db):
    await changed_subscription(db, "same@example.com", old=5000, new=5000)
    lonely = await add_subscriber(db, "new@example.com")
    direction_id = await add_direction(db, ONE_WAY_QKEY)
    await subscribe(db, lonely, direction_id, ONE_WAY_QKEY)
    await set_price(db, direction_id, "2026-05-02", 4000)  # its first price: nothing to compare

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 0
    assert await email_rows(db) == []


async def test_a_currency_change_alone_is_a_change(db):
    await changed_subscription(db, old=5000, new=5000)
    direction_id = await db.fetch_value("SELECT id FROM directions WHERE qkey = ?", (QKEY,))
    await set_price(db, direction_id, "2026-05-02", 5000, "EUR")

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1
    content = (await email_rows(db))[0]["payload"]["content"]
    assert (content["currency"], content["old_currency"]) == ("EUR", "RUR")


async def test_unconfirmed_subscribers_and_unsubscribed_subscriptions_get_nothing(db):
    await changed_subscription(db, "unconfirmed@example.com", confirmed=False)
    _, _, subscription_id = await changed_subscription(db, "gone@example.com")
    await sql(db, "UPDATE subscriptions SET unsubscribed_at = ? WHERE id = ?", (T0, subscription_id))
    await changed_subscription(db, "anna@example.com")

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1
    assert [email["payload"]["to"] for email in await email_rows(db)] == ["anna@example.com"]


async def test_a_change_is_queued_once_however_often_the_queue_runs(db):
    await changed_subscription(db)

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1
    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 0
    assert await queue_price_emails(db, public_url=PUBLIC_URL, only_email="anna@example.com") == 0
    assert len(await email_rows(db)) == 1


async def test_after_an_email_the_baseline_is_the_price_sent_and_a_later_change_is_new(db):
    _, direction_id, subscription_id = await changed_subscription(db, old=5000, new=4500)
    await queue_price_emails(db, public_url=PUBLIC_URL)
    # As the outbox leaves it once the email went out:
    await sql(db, "UPDATE messages SET status = 'sent'")
    await sql(db, "UPDATE subscriptions SET notified_price = 4500, notified_currency = 'RUR' WHERE id = ?",
              (subscription_id,))
    await set_price(db, direction_id, "2026-05-03", 4500)  # a new day, the same price: no email
    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 0

    # Two days at 4800 with no run between: against the day before there is no change, against
    # what the subscriber was told there is one.
    await set_price(db, direction_id, "2026-05-04", 4800)
    await set_price(db, direction_id, "2026-05-05", 4800)

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1
    latest = (await email_rows(db))[-1]
    assert latest["dedupe_key"] == f"price:{subscription_id}:2026-05-05:4800.0:RUR"
    content = latest["payload"]["content"]
    assert (content["old_price"], content["price"], content["diff"]) == (4500, 4800, 300)


async def test_a_price_that_moves_again_before_sending_replaces_the_pending_email(db):
    _, direction_id, subscription_id = await changed_subscription(db, old=5000, new=4500)
    await queue_price_emails(db, public_url=PUBLIC_URL)
    await set_price(db, direction_id, "2026-05-02", 4200)  # the same day, refreshed

    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1

    first, second = await email_rows(db)
    assert first["status"] == "cancelled" and "superseded" in first["last_error"]
    assert second["status"] == "pending" and second["payload"]["price"] == 4200
    assert second["payload"]["content"]["old_price"] == 5000

    # Back to 4500: the cancelled email of that change is due again, the 4200 one is cancelled.
    await set_price(db, direction_id, "2026-05-02", 4500)
    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 1
    first, second = await email_rows(db)
    assert (first["status"], second["status"]) == ("pending", "cancelled")
    assert first["last_error"] is None

    # Back to yesterday's price: nothing changed after all, nothing stays due.
    await set_price(db, direction_id, "2026-05-02", 5000)
    assert await queue_price_emails(db, public_url=PUBLIC_URL) == 0
    assert {email["status"] for email in await email_rows(db)} == {"cancelled"}


async def test_only_email_queues_that_subscribers_changes_alone(db):
    await changed_subscription(db, "anna@example.com")
    await changed_subscription(db, "boris@example.com")

    assert await queue_price_emails(db, public_url=PUBLIC_URL, only_email=" Boris@Example.com ") == 1
    assert [email["payload"]["to"] for email in await email_rows(db)] == ["boris@example.com"]


class Progress:
    """Records what a run reports, as tqdm would show it."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0

    def reset(self, total: int | None = None) -> None:
        self.total, self.done = total, 0

    def update(self, n: int = 1) -> None:
        self.done += n


async def test_queueing_reports_progress(db):
    for name in ("a", "b", "c"):
        await changed_subscription(db, f"{name}@example.com")
    progress = Progress()

    await queue_price_emails(db, public_url=PUBLIC_URL, progress=progress)

    assert (progress.total, progress.done) == (3, 3)


# -- the commands ----------------------------------------------------------------------------------


async def test_send_emails_mails_each_change_once_and_remembers_the_price(db, smtp_server):
    _, _, subscription_id = await changed_subscription(db, old=5000, new=4500)
    async with running_outbox(db, smtp_server) as outbox:
        summary = await send_emails(db, outbox, public_url=PUBLIC_URL)
        again = await send_emails(db, outbox, public_url=PUBLIC_URL)

    [received] = smtp_server.received
    assert received.rcpt_tos == ["anna@example.com"]
    assert received.message["Subject"] == "Москва — Сочи: цена снизилась до 4\u00a0500\u00a0₽"
    assert "13 мая" in received.body("plain") and "17 мая" in received.body("html")
    assert (summary.queued, summary.delivery.sent, again.queued, again.delivery.sent) == (1, 1, 0, 0)
    subscription = await subscription_row(db, subscription_id)
    assert (subscription["notified_price"], subscription["notified_currency"]) == (4500, "RUR")
    [email] = await email_rows(db)
    assert email["status"] == "sent" and email["body"] == received.body("plain")


async def test_send_email_to_sends_only_to_that_address(db, smtp_server):
    await changed_subscription(db, "anna@example.com")
    await changed_subscription(db, "boris@example.com")
    async with running_outbox(db, smtp_server) as outbox:
        summary = await send_emails(db, outbox, public_url=PUBLIC_URL, only_email="boris@example.com")
        assert [r.rcpt_tos for r in smtp_server.received] == [["boris@example.com"]]
        assert summary.queued == 1 and summary.delivery.sent == 1

        rest = await send_emails(db, outbox, public_url=PUBLIC_URL)

    assert rest.queued == 1 and rest.delivery.sent == 1
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["anna@example.com", "boris@example.com"]


def test_the_baseline_migration_keeps_what_older_subscriptions_compared_with(tmp_path):
    """Subscriptions made before 0006 and never mailed start from the direction's price of the day
    before its newest (what they were compared with until then), or from its only price."""
    conn = sqlite3.connect(tmp_path / "old.db")
    for version, _, path in migration_files():
        if version < 6:
            conn.executescript(path.read_text(encoding="utf-8"))
    conn.execute("INSERT INTO contacts (id, email, created_at, updated_at) VALUES (1, 'a@example.com', ?, ?)",
                 (T0, T0))
    conn.execute("INSERT INTO subscribers (id, contact_id, email, created_at, updated_at) VALUES ('s', 1, 'a@example.com', ?, ?)",
                 (T0, T0))
    for direction_id, prices in ((1, [("2026-05-01", 5000, "RUR"), ("2026-05-02", 4500, "RUR"),
                                      ("2026-05-03", 4700, "EUR")]),
                                 (2, [("2026-05-02", 300, "EUR")]), (3, [])):
        conn.execute("INSERT INTO directions (id, qkey, date_range, created_at) VALUES (?, ?, 0, ?)",
                     (direction_id, f"q{direction_id}", T0))
        conn.execute("INSERT INTO subscriptions (subscriber_id, direction_id, qkey, created_at, updated_at)"
                     " VALUES ('s', ?, ?, ?, ?)", (direction_id, f"q{direction_id}", T0, T0))
        for day, price, currency in prices:
            conn.execute("INSERT INTO direction_prices VALUES (?, ?, ?, ?, '{}', ?)",
                         (direction_id, day, price, currency, T0))
    conn.execute("INSERT INTO subscriptions (subscriber_id, direction_id, qkey, notified_price, notified_currency,"
                 " created_at, updated_at) VALUES ('s', 1, 'mailed', 4000, 'RUR', ?, ?)", (T0, T0))
    [(_, _, migration)] = [m for m in migration_files() if m[0] == 6]
    conn.executescript(migration.read_text(encoding="utf-8"))

    baselines = conn.execute("SELECT qkey, baseline_price, baseline_currency FROM subscriptions ORDER BY id").fetchall()
    assert baselines == [("q1", 4500, "RUR"), ("q2", 300, "EUR"), ("q3", None, None), ("mailed", None, None)]
    conn.close()

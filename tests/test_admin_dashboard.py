"""The admin dashboard's activity (handlers/admin_widgets.py over message_minutes, which a trigger
keeps as messages change status, a week of it): messages per minute sent, retried and failed, the
provider's errors with their text, and the scheduler's next runs."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone

from tests.test_admin_mailings import operator, post_form  # noqa: F401 (fixture)
from tests.test_dispatch import FAST_RETRIES, PROVIDER_TOKEN, add_clients, add_mailing, provider, wait_for  # noqa: F401


async def test_the_dashboard_counts_each_minutes_outcomes_and_shows_the_providers_errors(operator, provider):
    provider.fail_first(1, "error")  # each message: one 500, then accepted
    api = await operator(notifications={"transport": "http", "provider_url": provider.url,
                                        "provider_token": PROVIDER_TOKEN, **FAST_RETRIES})
    await add_clients(api, 4)
    mailing = await add_mailing(api, "Through a bad spell")
    await wait_for(api, mailing["id"], {"sent": 4})
    provider.mode = "reject"
    await add_clients(api, 2, code="921")  # they join the running mailing too: 2 messages each
    refused = await add_mailing(api, "Refused", filter_op_codes="921")
    await wait_for(api, refused["id"], {"failed": 2})
    await wait_for(api, mailing["id"], {"sent": 4, "failed": 2})
    page = await (await api.get("/admin/fragments/activity")).text()
    assert "4 sent · 8 retried · 4 failed" in page  # every message had one 500 first
    assert len(re.findall(r'<rect class="sent"', page)) >= 1 and '<rect class="failed"' in page
    errors = re.findall(r'<tr data-error-minute="[^"]+">(.*?)</tr>', page, re.S)
    assert any("failed" in row and "422" in row for row in errors)
    assert any("retried" in row and "500" in row for row in errors)
    dashboard = await (await api.get("/admin/")).text()
    assert "4 sent · 8 retried · 4 failed" in dashboard
    assert re.search(r"<code>send_emails</code></td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<", dashboard)


async def test_a_quiet_dashboard_says_so(operator):
    api = await operator()
    page = await (await api.get("/admin/")).text()
    assert "0 sent · 0 retried · 0 failed" in page and "None in the last 6 hours." in page
    assert "<rect" not in page.split('id="activity"')[1]


async def test_the_minutes_keep_a_week(operator, make_settings):
    api = await operator()
    with closing(sqlite3.connect(make_settings().storage.path)) as conn, conn:
        six_days_ago = (datetime.now(timezone.utc) - timedelta(days=6)).strftime("%Y-%m-%dT%H:%M")
        conn.executemany("INSERT INTO message_minutes VALUES (?, 'sms', 'sent', 5, NULL)",
                         [("2020-01-01T00:00",), (six_days_ago,)])
    await add_clients(api, 1)
    mailing = await add_mailing(api, "A new minute")
    await wait_for(api, mailing["id"], {"sent": 1})
    with closing(sqlite3.connect(make_settings().storage.path)) as conn:
        minutes = [row[0] for row in conn.execute("SELECT minute FROM message_minutes ORDER BY minute")]
    assert minutes[0] == six_days_ago and len(minutes) == 2  # 2020 went; six days ago and now stay

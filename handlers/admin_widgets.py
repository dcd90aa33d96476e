"""What admin pages show, computed for the templates: a mailing's progress, the engines' activity
per minute (the dashboard's chart, from message_minutes), the scheduler's next runs."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

ORDER = ("sent", "failed", "expired", "cancelled", "sending", "pending")  # left to right in the bar


def progress(mailing: dict) -> dict:
    """A mailing's stacked bar: each status's share (x and width in percent), how much is done."""
    total, statuses = mailing["total"], mailing["statuses"]
    bars, x = [], 0.0
    for status in ORDER:
        if statuses[status] and total:
            width = 100 * statuses[status] / total
            bars.append({"status": status, "x": round(x, 2), "width": round(width, 2)})
            x += width
    done = total - statuses["pending"] - statuses["sending"]
    percent = math.floor(100 * done / total) if total else 0
    label = ", ".join(f"{status} {count}" for status, count in statuses.items() if count) or "no messages yet"
    return {"bars": bars, "percent": percent, "label": label}


CHART_HOURS = 6
CHART_OUTCOMES = ("sent", "retried", "failed")  # bottom to top in each minute's bar
BAR_WIDTH, BAR_HEIGHT = 2, 120  # SVG units; the chart keeps its aspect, so its labels are not stretched


def activity(rows: list[dict], now: datetime, hours: int = CHART_HOURS) -> dict:
    """Messages per minute over the last `hours` (every channel), as stacked SVG bars (BAR_WIDTH
    wide, on a 0..BAR_HEIGHT scale), hour ticks, totals, and the minutes that had errors (newest
    first)."""
    minutes = hours * 60
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)  # the last bar: this minute
    per_minute: dict[int, dict[str, int]] = {}
    totals = dict.fromkeys(CHART_OUTCOMES, 0)
    errors = []
    for row in rows:
        at = datetime.fromisoformat(row["minute"]).replace(tzinfo=timezone.utc)
        slot = int((at - start).total_seconds() // 60)
        if not 0 <= slot < minutes or row["outcome"] not in totals:
            continue
        counts = per_minute.setdefault(slot, dict.fromkeys(CHART_OUTCOMES, 0))
        counts[row["outcome"]] += row["count"]
        totals[row["outcome"]] += row["count"]
        if row["outcome"] != "sent":
            errors.append(row)
    peak = max((sum(counts.values()) for counts in per_minute.values()), default=0)
    bars = []
    for slot, counts in sorted(per_minute.items()):
        y = float(BAR_HEIGHT)
        for outcome in CHART_OUTCOMES:
            if counts[outcome]:
                height = BAR_HEIGHT * counts[outcome] / peak
                y -= height
                bars.append({"x": slot * BAR_WIDTH, "y": round(y, 2), "height": round(height, 2), "outcome": outcome,
                             "title": f"{(start + timedelta(minutes=slot)):%H:%M} UTC: {counts[outcome]} {outcome}"})
    first_hour = start.replace(minute=0) + timedelta(hours=1)
    ticks = [{"x": BAR_WIDTH * int((first_hour + timedelta(hours=n) - start).total_seconds() // 60),
              "label": f"{(first_hour + timedelta(hours=n)):%H:%M}"} for n in range(hours)]
    errors.sort(key=lambda row: row["minute"], reverse=True)
    return {"bars": bars, "ticks": ticks, "minutes": minutes, "width": minutes * BAR_WIDTH, "height": BAR_HEIGHT, "peak": peak, "totals": totals, "errors": errors[:10]}


def scheduled(scheduler) -> list[dict]:
    """The scheduler's jobs by their next run (paused ones last): id, next (UTC text or None)."""
    jobs = [{"id": job.id, "next": job.next_run_time} for job in scheduler.get_jobs()]
    jobs.sort(key=lambda job: (job["next"] is None, job["next"].timestamp() if job["next"] else 0))
    return [{"id": job["id"], "next": job["next"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
             if job["next"] else None} for job in jobs]

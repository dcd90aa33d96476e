"""What several admin pages show the same way, computed for the templates: a mailing's progress."""

from __future__ import annotations

import math

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

"""Mango's rate limits kept on our side, so that Mango never has to answer 429 (pure: the clock is
passed in).

Mango allows 100 requests/s overall, 10/s per product (vpbx, cc), and less for some commands
(shared/reference/mango-vpbx.md). Each limit of n per p seconds is kept as a spacing: two requests
under one limit are at least p/n seconds (and a small margin, for the network) apart, so no
window of p seconds ever holds more than n of them, however Mango counts. A request is given the
earliest moment that keeps every limit it falls under; stats/result polls are left to their own
limit (Mango allows 50/s of them), as they are paced by the poll interval anyway.
"""

from __future__ import annotations

MARGIN = 0.005  # seconds added to each spacing: requests reach Mango a little less evenly than they leave

OVERALL = ("all", 100, 1.0)
PER_PRODUCT = 10, 1.0
PER_PATH = {
    "commands/callback": (4, 1.0),
    "commands/call/hangup": (4, 1.0),
    "commands/recording/start": (4, 1.0),
    "config/users/request": (1, 2.0),
    "commands/transfer": (1, 2.0),
    "stats/request": (1, 2.0),
    "commands/route": (1, 2.0),
    "account/balance": (2, 1.0),
    "stats/result": (50, 1.0),
}


class Limits:
    """The moments granted so far under each limit; `reserve` gives a request its moment."""

    def __init__(self) -> None:
        self._granted: dict[str, list[float]] = {}

    @staticmethod
    def limits_of(product: str, path: str) -> list[tuple[str, int, float]]:
        path = path.strip("/")
        limits = [OVERALL]
        if path != "stats/result":
            limits.append((product, *PER_PRODUCT))
        if path in PER_PATH:
            limits.append((f"{product}:{path}", *PER_PATH[path]))
        return limits

    def earliest(self, product: str, path: str, now: float) -> float:
        """The first moment from `now` at which a request to `path` keeps every limit."""
        limits = [(self._granted.get(name, ()), period / count + MARGIN)
                  for name, count, period in self.limits_of(product, path)]
        moment = now
        moved = True
        while moved:
            moved = False
            for granted, spacing in limits:
                for other in granted:
                    if abs(other - moment) < spacing and other + spacing > moment:
                        moment = other + spacing
                        moved = True
        return moment

    def grant(self, product: str, path: str, moment: float, now: float) -> None:
        """Book `moment` under every limit of `path` (forgetting what can no longer matter)."""
        for name, count, period in self.limits_of(product, path):
            spacing = period / count + MARGIN
            kept = [other for other in self._granted.get(name, ()) if other > now - spacing]
            kept.append(moment)
            self._granted[name] = kept

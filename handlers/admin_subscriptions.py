"""The admin UI's subscriptions pages (being built)."""

from __future__ import annotations

routes: list = []

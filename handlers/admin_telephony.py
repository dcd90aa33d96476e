"""The admin UI's telephony pages (being built)."""

from __future__ import annotations

routes: list = []

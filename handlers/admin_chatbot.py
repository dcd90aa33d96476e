"""The admin UI's chatbot pages (being built)."""

from __future__ import annotations

routes: list = []

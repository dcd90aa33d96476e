"""/api/v1/accounts/{id}/chat-messages and the writes on an account's history: what the person
sent, an operator's reply, read marks, and merging two accounts that are one person."""

from __future__ import annotations

routes: list = []

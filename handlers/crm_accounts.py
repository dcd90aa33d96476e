"""/api/v1/accounts, /api/v1/orders, /api/v1/users: the CRM's accounts (contacts of the one
directory), their orders and the platform's users (operators and chatbot sender profiles)."""

from __future__ import annotations

routes: list = []

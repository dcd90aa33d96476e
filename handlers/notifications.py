"""The notification service's family (seed 003): /Clients/, /Mailing/ and /Stats/ behind a service
token, errors in Django REST framework's shapes, lists paged by limit/offset in DRF's envelope."""

from __future__ import annotations

from handlers import clients, mailings, stats
from server.families import Family, ServiceToken, drf_error
from server.http import Page

FAMILY = Family(
    "notifications",
    routes=(*clients.routes, *mailings.routes, *stats.routes),
    prefixes=("/Clients", "/Mailing", "/Stats"),
    auth=ServiceToken(),
    error_body=drf_error,
    pagination=Page,
    path_ids=(("/Clients/", "client_id"), ("/Mailing/", "mailing_id"), ("/Stats/", "mailing_id")),
)

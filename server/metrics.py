"""Prometheus metrics (extra 10): requests by route and status, their latency, and the message
log's counts by status, read from the database at scrape time so they survive restarts.

One registry per app, so that several apps in one process (tests) never share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("herald_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("herald_http_request_seconds", "Time to answer an HTTP request",
                                 ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
        self._children: dict[tuple[str, str, int], tuple] = {}
        self.mailing_messages = Gauge("herald_mailing_messages", "Messages of mailings by status",
                                      ["status"], registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        if (children := self._children.get(key)) is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                               self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self, message_counts: dict[str, int]) -> bytes:
        for status, count in message_counts.items():
            self.mailing_messages.labels(status).set(count)
        return generate_latest(self.registry)

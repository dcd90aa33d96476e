"""Gateways to the outside world; each is pure protocol code plus a thin I/O client."""

"""The process and its edges: app factory, settings, middlewares, OpenAPI and the gateways."""

__version__ = "0.3.0"

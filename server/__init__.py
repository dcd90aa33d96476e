"""The process and its edges: app factory, settings, middlewares, OpenAPI and the gateways."""

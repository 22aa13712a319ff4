"""The HTTP API: thin routers that parse, call one engine function, and render."""

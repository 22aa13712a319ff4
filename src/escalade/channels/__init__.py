"""Outbound delivery: one module per channel type, one `Sender` protocol."""

"""Structured logs: a dotted event name and key=value fields, one line each."""

from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_WORDS = ("token", "secret", "password", "authorization")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        parts = [self.formatTime(record), record.levelname.lower(), record.getMessage()]
        for key, value in fields.items():
            shown = "[redacted]" if any(w in key.lower() for w in _SECRET_WORDS) else value
            parts.append(f"{key}={shown}")
        line = " ".join(str(p) for p in parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("escalade")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

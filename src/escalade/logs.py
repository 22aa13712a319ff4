"""Structured logs: a dotted event name and key=value fields, one line each."""

from __future__ import annotations

import logging
import re
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_WORDS = ("token", "secret", "password", "authorization")
# Secrets that can hide inside any text (an exception, a URL): bearer tokens,
# Escalade's own tokens, and passwords in URLs (scheme://user:password@host).
_SECRET_TEXT = re.compile(r"(?i)(bearer\s+)\S+|esk_[A-Za-z0-9_-]+|(://[^/\s:@]+:)[^@\s/]+(@)")


def scrub(text: str) -> str:
    """`text` with bearer tokens, Escalade tokens and URL passwords replaced."""
    return _SECRET_TEXT.sub(
        lambda m: (m.group(1) or m.group(2) or "") + "[redacted]" + (m.group(3) or ""), text
    )


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
        return scrub(line)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("escalade")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

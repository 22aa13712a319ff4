"""The console channel: one line per notification on the server's output."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from escalade.channels.base import Message, Result, Sent


class ConsoleSender:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Message) -> Result:
        who = message.person_name or message.person or message.target
        line = f"[escalade] notify {who} ({message.target}): {message.subject}\n"
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()
        return Sent("written to console")

    def close(self) -> None:
        return None

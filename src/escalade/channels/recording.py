"""A channel that records instead of sending: drills run the real engine and
real routing, but nothing leaves the building."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from escalade.channels.base import Message, Result, Sent


@dataclass
class Recorder:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)


class RecordingSender:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def send(self, message: Message) -> Result:
        self._recorder.add(message)
        return Sent("recorded (drill)")

    def close(self) -> None:
        return None

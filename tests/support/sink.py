"""A real HTTP server that plays a webhook receiver and counts what it gets.

It can be told to fail (a status code, a number of times) so tests can prove
retries; it de-duplicates nothing itself, so tests see every attempt.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Sink:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # status codes to answer first
    # status codes to answer first on one path only; refused requests land in `refused`
    fail_path: dict[str, list[int]] = field(default_factory=dict)
    refused: list[Received] = field(default_factory=list)
    # a path answers 503 until this time.time() (a receiver that is down for a while)
    down_until: dict[str, float] = field(default_factory=dict)
    fail_headers: dict[str, str] = field(default_factory=dict)  # sent with refusals (Retry-After)
    stall_next: list[float] = field(default_factory=list)  # seconds to hang before answering
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"sink got {len(self.received)} requests, expected {count}"
                    )
                self.arrived.wait(left)
            return list(self.received)

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def refused_by_key(self, path: str, header: str = "X-Escalade-Delivery") -> Counter[str]:
        """How often each idempotency key was answered with an error on `path`."""
        with self.lock:
            return Counter(r.headers[header] for r in self.refused if r.path == path)

    def by_key(self, header: str = "X-Escalade-Delivery") -> Counter[str]:
        """How often each idempotency key arrived: how a receiver de-duplicates."""
        with self.lock:
            return Counter(r.headers[header] for r in self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sink() -> Sink:
    holder: dict[str, Sink] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink = holder["sink"]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with sink.lock:
                stall = sink.stall_next.pop(0) if sink.stall_next else 0.0
            if stall:  # plays a receiver that hangs until the sender gives up
                time.sleep(stall)
                with sink.lock:
                    sink.refused.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                self.close_connection = True
                return
            with sink.lock:
                on_path = sink.fail_path.get(self.path)
                if sink.down_until.get(self.path, 0.0) > time.time():
                    status = 503
                elif on_path:
                    status = on_path.pop(0)
                else:
                    status = sink.fail_next.pop(0) if sink.fail_next else 200
                request = Received(self.path, dict(self.headers.items()), body, time.time())
                if status == 200:
                    sink.received.append(request)
                    sink.arrived.notify_all()
                else:
                    sink.refused.append(request)
            try:
                self.send_response(status)
                if status != 200:
                    for name, value in sink.fail_headers.items():
                        self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                return

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = Sink(server)
    holder["sink"] = sink
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink

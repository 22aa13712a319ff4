"""Cross-process wake-ups on PostgreSQL: NOTIFY on commit, LISTEN in workers.

A transaction that leaves work due now (a rung to notify, a timer already due)
sends `NOTIFY escalade_wake`; PostgreSQL delivers it only if and when the
transaction commits. Every worker holds one connection that LISTENs and wakes
its loop on a notification. Notifications are a hint, never the only path: the
worker also polls, so a lost connection or a missed notification only costs the
poll interval. SQLite runs in one process, where a threading.Event does this.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

log = logging.getLogger("escalade.wakeups")

CHANNEL = "escalade_wake"


# The payload of a NOTIFY that only messages are due: the workers' senders look,
# and their loops (inbox, timers) are left alone.
SEND = "send"
# The payload of a NOTIFY that signals were queued: a worker's loop already
# waiting to route the inbox need not look again.
INBOX = "inbox"


_NOTIFY = {payload: text(f"NOTIFY {CHANNEL}, '{payload}'") for payload in ("", SEND, INBOX)}


def notify(conn: Connection, payload: str = "") -> None:
    """Ask every listening worker to look for work once this transaction commits:
    for anything, or only for messages to send (`SEND`), or for queued signals
    (`INBOX`)."""
    statement = _NOTIFY.get(payload)
    if statement is None:
        raise ValueError(f"unknown wake-up payload {payload!r}")
    if conn.dialect.name == "postgresql":
        conn.execute(statement)


def listen_url(database_url: str) -> str | None:
    """The URL a worker LISTENs on: PostgreSQL's; None for SQLite (one process)."""
    return database_url if make_url(database_url).get_backend_name() == "postgresql" else None


def libpq_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string (query options kept)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Listener:
    """A daemon thread that calls `on_wake` for every NOTIFY on the channel, or
    `on_send` (when given) for one that only messages are due (`SEND`), or
    `on_inbox` (when given) for one that signals were queued (`INBOX`).

    It reconnects after a lost connection (the server restarting) with a short
    pause; while it is down the worker's polling carries on alone.
    """

    def __init__(
        self,
        database_url: str,
        on_wake: Callable[[], None],
        retry: float = 1.0,
        *,
        on_send: Callable[[], None] | None = None,
        on_inbox: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = libpq_dsn(database_url)
        self._on_wake = on_wake
        self._on_send = on_send or on_wake
        self._on_inbox = on_inbox or on_wake
        self._retry = retry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escalade-listen", daemon=True)
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if note.payload == SEND:
                                self._on_send()
                            elif note.payload == INBOX:
                                self._on_inbox()
                            else:
                                self._on_wake()
            except psycopg.Error:
                self.listening.clear()
                log.warning("wakeups.listen_lost", exc_info=True)
                self._stop.wait(self._retry)
        self.listening.clear()

"""An Escalade service on a fresh database with a simulated clock."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from escalade.channels.registry import Senders
from escalade.engine.service import Escalade
from escalade.engine.worker import Worker
from escalade.storage.migrate import upgrade
from support.policies import BASE, ENV


class Harness:
    """Builds services and workers for one test and closes them afterwards."""

    def __init__(self, database_url: str, tmp_path: Path, clock: Any) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.clock = clock
        self._services: list[Escalade] = []
        self._senders: list[Senders] = []

    def service(
        self, *, text: str = BASE, env: dict[str, str] | None = None, ack_links: Any = None
    ) -> Escalade:
        path = self.tmp_path / "policy.yaml"
        path.write_text(text)
        service = Escalade(
            self.database_url,
            path,
            clock=self.clock,
            env={**ENV, **(env or {})},
            ack_links=ack_links,
        )
        self._services.append(service)
        upgrade(service.db)
        return service

    def worker(self, service: Escalade) -> Worker:
        senders = Senders()
        self._senders.append(senders)
        return Worker(
            service.db,
            lambda: service.policy,
            service.clock,
            senders,
            threading.Event(),
            ack_links=service.ack_links,
        )

    def close(self) -> None:
        for senders in self._senders:
            senders.close()
        for service in self._services:
            service.close()

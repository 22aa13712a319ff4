"""Running `escalade serve` as a real process, as users do."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "process-test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, database_url: str, policy: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            **env,
            "ESCALADE_DATABASE_URL": database_url,
            "ESCALADE_POLICY": str(policy),
            "ESCALADE_ADMIN_TOKEN": TOKEN,
            "ESCALADE_PORT": str(self.port),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def start(self, timeout: float = 30, *args: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "escalade.cli", "serve", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not healthy in time: {self.log.read_text()[-3000:]}")

    def spawn_worker(self) -> subprocess.Popen[bytes]:
        """A separate `escalade worker` process on the same database and policy."""
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "escalade.cli", "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def token(self, name: str, scope: str) -> str:
        """A new API token, made the way an operator makes one (`escalade token create`)."""
        out = subprocess.run(
            [sys.executable, "-m", "escalade.cli", "token", "create", name, "--scope", scope],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def as_token(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=70
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing, like a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.client.close()

    def timeline(self, incident_id: str) -> list[dict[str, object]]:
        body = self.client.get(f"/v1/incidents/{incident_id}").json()
        return list(body["timeline"])

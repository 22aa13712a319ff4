"""Real peers for the integration tests: Alertmanager, and Escalade behind TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import trustme

from support.server import ServerProcess, free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"  # Debian's prometheus-alertmanager
AMTOOL = "/usr/bin/amtool"  # its configuration checker, from the same package

# What the integration process tests run under: integration signals route like any.
POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook"}
tiers:
  sev1: {name: Critical, ack_within: 5m, ladder: page}
  sev2: {name: High, ack_within: 15m, ladder: page}
ladders:
  page:
    rungs:
      - {notify: [person:alice], escalate_after: 5m}
rules:
  - {id: fairness, match: {kind: fairness_drift}, tier: sev1, type: model}
  - {id: drift, match: {kind: drift}, tier: sev2, type: model}
default: {tier: sev2}
"""


def create_integration(server: ServerProcess, kind: str, name: str) -> str:
    """A new integration key, made the way an operator makes one."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "escalade.cli", "integrations", "create"),
            *("--kind", kind, "--name", name),
        ],
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def wait_for(check: object, what: str, timeout: float = 30.0) -> object:
    """Poll `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()  # type: ignore[operator]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def check_alertmanager_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`amtool check-config` on one file: what Alertmanager itself would refuse to load.

    A missing amtool fails the test, as a missing Alertmanager does: never a skip.
    """
    if shutil.which(AMTOOL) is None:
        raise AssertionError(f"{AMTOOL} missing: run `make peers` (Debian package)")
    return subprocess.run(
        [AMTOOL, "check-config", str(path)], check=False, capture_output=True, text=True, timeout=30
    )


class Alertmanager:
    """`prometheus-alertmanager` on a free port with the given configuration."""

    def __init__(self, config: str, workdir: Path) -> None:
        if shutil.which(ALERTMANAGER) is None:
            raise AssertionError(f"{ALERTMANAGER} missing: run `make peers` (Debian package)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(config)
        self.log = workdir / "alertmanager.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={workdir / 'alertmanager.yml'}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    "--log.level=debug",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"alertmanager exited: {self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"alertmanager not ready: {self.log.read_text()[-3000:]}")

    def post_alerts(self, alerts: list[dict[str, object]]) -> None:
        response = self.client.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.client.close()


class TLSServer:
    """Escalade under uvicorn with a certificate from a throwaway CA (trustme).

    The PagerDuty client accepts only https base URLs, as PagerDuty itself is.
    """

    def __init__(self, server: ServerProcess, workdir: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.key_file, self.cert_file = workdir / "server.key", workdir / "server.pem"
        cert.private_key_pem.write_to_path(str(self.key_file))
        cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.context = ssl.create_default_context()
        ca.configure_trust(self.context)
        self.server = server
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = self.server.env
        subprocess.run(
            [sys.executable, "-m", "escalade.cli", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        with self.server.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "escalade.app:create_app_from_env"),
                    *("--factory", "--host", "127.0.0.1", "--port", str(self.port)),
                    *("--ssl-keyfile", str(self.key_file), "--ssl-certfile", str(self.cert_file)),
                ],
                env={**env, "ESCALADE_RUN_ENGINE": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        with httpx.Client(base_url=self.url, verify=self.context, timeout=5) as client:

            def healthy() -> bool:
                assert self.proc is not None and self.proc.poll() is None, (
                    self.server.log.read_text()
                )
                try:
                    return client.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, "escalade behind TLS")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

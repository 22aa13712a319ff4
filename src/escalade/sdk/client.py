"""A small synchronous client for the Escalade HTTP API."""

from __future__ import annotations

import os
from typing import Any

import httpx


class EscaladeError(RuntimeError):
    """The server refused a request; `status` and `body` say why."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


class EscaladeClient:
    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 10.0
    ) -> None:
        self.url = (url or os.environ.get("ESCALADE_URL") or "http://127.0.0.1:8080").rstrip("/")
        token = token or os.environ.get("ESCALADE_TOKEN") or os.environ.get("ESCALADE_ADMIN_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EscaladeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise EscaladeError(response.status_code, body)
        return body

    def send_signals(self, *signals: dict[str, Any]) -> dict[str, Any]:
        payload = signals[0] if len(signals) == 1 else {"signals": list(signals)}
        result: dict[str, Any] = self._call("POST", "/v1/signals", json=payload)
        return result

    def incidents(self, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = self._call("GET", "/v1/incidents", params=params)[
            "incidents"
        ]
        return result

    def incident(self, incident_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/incidents/{incident_id}")
        return result

    def act(
        self, incident_id: str, verb: str, by: str | None = None, note: str | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in {"by": by, "note": note}.items() if v}
        result: dict[str, Any] = self._call(
            "POST", f"/v1/incidents/{incident_id}/{verb}", json=body or None
        )
        return result

    def acknowledge(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return self.act(incident_id, "acknowledge", by)

    def resolve(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return self.act(incident_id, "resolve", by)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/healthz")
        return result

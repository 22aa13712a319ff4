"""The Python client for systems that talk to Escalade (signals, incidents).

Importable without the server's dependencies: it needs only httpx.
"""

from escalade.sdk.client import EscaladeClient, EscaladeError

__all__ = ["EscaladeClient", "EscaladeError"]

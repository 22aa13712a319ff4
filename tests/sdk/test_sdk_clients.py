"""The async client offers every method of the sync one, with the same parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from escalade.sdk import AsyncEscaladeClient, EscaladeClient

# What differs on purpose: closing, and the decorator (sync in both, wrapping different kinds).
OWN = {"close", "aclose", "require_approval"}


def public(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member) and name not in OWN
    }


def test_every_sync_method_is_awaitable_on_the_async_client() -> None:
    sync, aio = public(EscaladeClient), public(AsyncEscaladeClient)
    assert sorted(sync) == sorted(aio)
    assert {"reviews", "request_review", "get_review", "decide", "review"} <= set(aio)
    for name, method in aio.items():
        assert inspect.iscoroutinefunction(method), f"AsyncEscaladeClient.{name} is not async"
        expected = inspect.signature(sync[name]).parameters
        assert inspect.signature(method).parameters == expected, name

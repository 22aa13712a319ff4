"""The per-integration trailing-window limiter, with time as plain numbers."""

from escalade.integrations.limits import RateLimiter


def test_the_limit_holds_over_a_trailing_window() -> None:
    limiter = RateLimiter(3, window=60)
    assert [limiter.retry_after("k", t) for t in (0, 1, 2)] == [None, None, None]
    assert limiter.retry_after("k", 30) == 30  # the first event leaves the window at 60
    assert limiter.retry_after("other", 30) is None  # keys are counted apart
    assert limiter.retry_after("k", 60) is None


def test_zero_turns_it_off() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.retry_after("k", 0) is None for _ in range(1000))

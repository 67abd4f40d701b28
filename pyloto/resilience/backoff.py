"""Retry delays: exponential backoff with jitter, capped, never shorter than the server's Retry-After."""

import random


def backoff_seconds(retries: int, *, cap_s: float, retry_after_s: float | None = None) -> float:
    """The wait before retry number `retries + 1`: 0.5–1 s, 1–2 s, 2–4 s… up to `cap_s`.

    Jitter spreads the retries of many callers that failed together (an outage) so they do not come
    back in one wave. A server's Retry-After is honoured, within the same cap: a bounded wait keeps
    every countdown shorter than the broker's visibility timeout (see docs/operations/timeouts).
    """
    delay = min(2.0**retries, cap_s) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap_s))
    return delay

"""The one error hierarchy for outbound calls: retries key on the class, never on the message."""


class PylotoError(Exception):
    """Base of every error our outbound clients raise."""

    permanent: bool = False

    def __init__(self, message: str, *, code: int | str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


class TransientError(PylotoError):
    """May succeed if tried again later (rate limit, 5xx, network)."""

    permanent = False


class PermanentError(PylotoError):
    """Will fail again the same way: write it on the row, dead-letter it, do not retry."""

    permanent = True

"""Errors the LLM client raises, on the shared transient/permanent hierarchy so retries key on the class."""

from pyloto.errors import PermanentError, TransientError


class LLMTransientError(TransientError):
    """Timeout, connection failure, rate limit or 5xx from the LLM server: retry later."""


class LLMPermanentError(PermanentError):
    """The request itself is wrong (auth, permission, bad request, unknown model): retrying cannot help."""


class LLMNotConfigured(LLMPermanentError):
    """No API key is set; callers should use the offline provider instead."""


class LLMOutputInvalid(PermanentError):
    """The model's output failed schema validation even after one corrective re-ask: run the fallback."""

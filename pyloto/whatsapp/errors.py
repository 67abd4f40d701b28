"""Cloud API errors, classified by Graph error code into retry-worthy (transient) and final (permanent)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from pyloto.errors import PermanentError, TransientError

# Throttling, generic server trouble and "try again later": the same request may succeed next time.
TRANSIENT_GRAPH_CODES = frozenset(
    {
        1,  # API unknown
        2,  # API service temporarily unavailable
        4,  # application request limit reached
        80007,  # WhatsApp Business Account rate limit
        130429,  # Cloud API throughput limit
        131000,  # something went wrong (generic, server side)
        131016,  # service temporarily unavailable
        131056,  # too many messages to the same recipient (pair rate limit)
    }
)

# The request itself is wrong or can never be delivered: retrying only repeats the failure.
PERMANENT_GRAPH_CODES = frozenset(
    {
        100,  # invalid parameter
        190,  # access token expired or invalid
        131009,  # parameter value not valid
        131026,  # message undeliverable
        131047,  # re-engagement required: outside the 24-hour customer-service window
        131049,  # not delivered to keep the ecosystem healthy (marketing frequency cap): see FREQUENCY_CAPPED
        131050,  # the customer stopped marketing messages
        131051,  # unsupported message type
        131052,  # media download error
        131053,  # media upload error
        131062,  # business-scoped user id recipients not supported for this message
        132000,  # template parameter count does not match
        132001,  # template does not exist in that language (or is not approved)
        132005,  # template text too long once its parameters are filled in
        132007,  # template format character policy violated
        132012,  # template parameter format mismatch
        132015,  # template paused for low quality
        132016,  # template disabled
        132018,  # template parameter with line breaks, tabs or more than four consecutive spaces
    }
)

# Pacing refusals: the business number's throughput (130429) or the pair limit towards one customer
# (131056). They never retry at once: the send waits its turn in the pacing buckets and backs off with jitter.
NUMBER_RATE_LIMITED = 130429
PAIR_RATE_LIMITED = 131056
THROTTLING_CODES = frozenset({NUMBER_RATE_LIMITED, PAIR_RATE_LIMITED})
# The marketing frequency cap: the customer gets too many marketing messages from all businesses. Not a
# failure of ours; try again hours later and report the message as capped.
FREQUENCY_CAPPED = 131049
# Failures that reach us only as a `failed` status webhook after an accepted send, with what they mean.
ASYNC_FAILURE_CODES = frozenset({131026, 131047, 131049, 131050})


class WhatsAppTransientError(TransientError):
    """A Cloud API call that may succeed later; `retry_after` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        details: dict | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.status_code = status_code
        self.retry_after = retry_after


class WhatsAppPermanentError(PermanentError):
    """A Cloud API call that will fail the same way every time: record it, do not retry."""

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        details: dict | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.status_code = status_code


def parse_retry_after(value: str | float | int | None) -> float | None:
    """Seconds to wait from a Retry-After header value (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    text = value.strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def _graph_error_fields(body: dict | None) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def classify_graph_error(
    status_code: int, body: dict | None, *, retry_after: str | float | None = None
) -> WhatsAppTransientError | WhatsAppPermanentError:
    """Turn a non-2xx Graph answer into the error the caller should raise.

    A known Graph code decides first (Meta answers most errors with HTTP 400, whatever their nature);
    otherwise Graph's own `is_transient` hint, then the HTTP status: 429, 408 and 5xx are transient,
    every other status is permanent.
    """
    error = _graph_error_fields(body)
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    graph_message = str(error.get("message") or f"HTTP {status_code}")
    raw_error_data = error.get("error_data")
    error_data: dict = raw_error_data if isinstance(raw_error_data, dict) else {}
    details: dict[str, Any] = {
        "status_code": status_code,
        "subcode": error.get("error_subcode"),
        "message": graph_message,
        "type": error.get("type"),
        "fbtrace_id": error.get("fbtrace_id"),
    }
    if error_data.get("details"):
        details["details"] = error_data["details"]
    if not error and body is not None:
        details["body"] = body

    if code in TRANSIENT_GRAPH_CODES:
        transient = True
    elif code in PERMANENT_GRAPH_CODES:
        transient = False
    elif isinstance(error.get("is_transient"), bool):
        transient = error["is_transient"]
    else:
        transient = status_code in (408, 429) or status_code >= 500

    label = code if code is not None else f"HTTP {status_code}"
    message = f"WhatsApp Cloud API error {label}: {graph_message}"
    if transient:
        return WhatsAppTransientError(
            message,
            code=code if code is not None else status_code,
            details=details,
            status_code=status_code,
            retry_after=parse_retry_after(retry_after),
        )
    return WhatsAppPermanentError(
        message, code=code if code is not None else status_code, details=details, status_code=status_code
    )


# The connection never carried the request, so a retry cannot send twice.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def classify_transport_error(exc: httpx.HTTPError) -> WhatsAppTransientError:
    """A network failure or timeout: always transient; `details["request_sent"]` says if Meta may have it."""
    return WhatsAppTransientError(
        f"WhatsApp Cloud API unreachable: {type(exc).__name__}",
        code="network",
        details={"exception": type(exc).__name__, "request_sent": not isinstance(exc, _NOT_SENT_ERRORS)},
    )

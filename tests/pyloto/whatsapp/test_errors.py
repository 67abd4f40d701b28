"""Graph error classification: which answers are retried (transient) and which are final (permanent)."""

import httpx
import pytest

from pyloto.errors import PermanentError, TransientError
from pyloto.whatsapp.errors import (
    WhatsAppPermanentError,
    WhatsAppTransientError,
    classify_graph_error,
    classify_transport_error,
    parse_retry_after,
)


def _body(code, **extra):
    return {
        "error": {
            "message": f"(#{code}) something",
            "type": "OAuthException",
            "code": code,
            "error_subcode": 2494010,
            "fbtrace_id": "AbCdEf123",
            **extra,
        }
    }


TRANSIENT_CODES = [130429, 131056, 1, 2, 131000, 131016, 4, 80007]
PERMANENT_CODES = [131047, 131026, 190, 100, 131051, 131052, 131053]


@pytest.mark.parametrize("code", TRANSIENT_CODES)
def test_transient_graph_codes(code):
    # Meta answers most errors with HTTP 400: the code, not the status, must decide.
    error = classify_graph_error(400, _body(code))
    assert isinstance(error, WhatsAppTransientError)
    assert isinstance(error, TransientError)
    assert not error.permanent
    assert error.code == code


@pytest.mark.parametrize("code", PERMANENT_CODES)
@pytest.mark.parametrize("status", [400, 401, 500])
def test_permanent_graph_codes(code, status):
    error = classify_graph_error(status, _body(code))
    assert isinstance(error, WhatsAppPermanentError)
    assert isinstance(error, PermanentError)
    assert error.permanent
    assert error.code == code


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (500, None, True),
        (502, {"unexpected": "html proxy page"}, True),
        (503, _body(999999), True),
        (429, None, True),
        (408, None, True),
        (400, _body(131999), False),
        (404, None, False),
        (403, {"error": {"message": "forbidden"}}, False),
        (400, _body(131999, is_transient=True), True),
    ],
)
def test_unknown_codes_fall_back_to_hints_then_status(status, body, transient):
    error = classify_graph_error(status, body)
    assert isinstance(error, WhatsAppTransientError if transient else WhatsAppPermanentError)
    assert error.status_code == status


def test_details_carry_subcode_message_and_trace():
    body = _body(131047)
    body["error"]["error_data"] = {"messaging_product": "whatsapp", "details": "24 hours have passed"}
    error = classify_graph_error(400, body)
    assert error.details["subcode"] == 2494010
    assert error.details["message"] == "(#131047) something"
    assert error.details["fbtrace_id"] == "AbCdEf123"
    assert error.details["details"] == "24 hours have passed"
    assert error.details["status_code"] == 400
    assert "131047" in str(error)


def test_retry_after_is_parsed_for_transient_errors():
    assert classify_graph_error(429, _body(130429), retry_after="7").retry_after == 7.0
    assert classify_graph_error(500, _body(131000)).retry_after is None
    dated = classify_graph_error(429, _body(130429), retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert dated.retry_after == 0.0  # a date in the past means "now"


@pytest.mark.parametrize(("value", "expected"), [("3", 3.0), (" 1.5 ", 1.5), ("-4", 0.0), ("soon", None), (None, None)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize(
    ("exc", "request_sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.ReadTimeout("slow answer"), True),
        (httpx.RemoteProtocolError("dropped"), True),
    ],
)
def test_network_errors_are_transient(exc, request_sent):
    error = classify_transport_error(exc)
    assert isinstance(error, WhatsAppTransientError)
    assert error.code == "network"
    assert error.details["request_sent"] is request_sent

"""PII masking for logs and error reports: phone numbers, e-mails, CPF/CNPJ and URL secrets.

`mask_pii(text)` rewrites one string, `mask_value(obj)` walks dicts/lists/tuples, and
`mask_pii_processor` is the structlog processor that the logging configuration runs last before
rendering. Masks keep just enough for on-call to correlate a complaint with a log line — the last
four digits of a phone (`+55*******4321`), the check digits of a CPF/CNPJ, the first letter and
the top-level domain of an e-mail (`j***@***.br`) — and nothing that identifies a person.

Three precompiled regexes (e-mails, URL/bearer secrets, numbers) run only when a cheap substring
test says they could match; the number regex's replacement function decides per match. Bare digit
runs are ambiguous (a WhatsApp `wa_id` is 10–15 digits, a CPF 11, a CNPJ 14), so a run whose check
digits are a valid CPF or CNPJ is masked as a document, any other run of 10–15 digits as a phone.
Shorter numbers (amounts such as "R$ 1.500", years, ids) and digits inside identifiers (wamids,
UUIDs, hex) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Keys whose values are credentials, whatever they contain.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "password",
        "secret",
        "api_key",
        "access_token",
        "verify_token",
        "hub.verify_token",
        "x-hub-signature-256",
        "openai_api_key",
        "whatsapp_access_token",
        "whatsapp_app_secret",
    }
)
REDACTED = "[redacted]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?P<tld>[A-Za-z]{2,24})")
_SECRET = re.compile(
    r"(?:(?<=[?&])(?:hub\.verify_token|access_token|verify_token)=|\b(?i:bearer)\s+)(?P<value>[^&\s\"',;]+)"
)
_NUMBERS = re.compile(
    r"""
    # Every alternative starts with one of these: failing fast elsewhere keeps long texts cheap.
    (?=[0-9A-Z+(])
    (?:
    # CNPJ, numeric or the 2026 alphanumeric form: ##.###.###/####-##
    (?P<cnpj>(?<![\w.])[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-(?P<cnpj_dv>\d{2})(?!\w))
    # CPF: ###.###.###-##
    |(?P<cpf>(?<![\w.])\d{3}\.\d{3}\.\d{3}-(?P<cpf_dv>\d{2})(?![\w-]))
    # E.164 with a plus, separators allowed: +55 (11) 98765-4321, +1 415 555 0123
    |(?P<e164>\+\d(?:[\s().-]{0,2}\d){9,14}(?!\d))
    # Bare digit runs as WhatsApp sends wa_ids (and as CPF/CNPJ appear unformatted).
    |(?P<digits>(?<![\w.\-/])\d{10,15}(?![\w-]))
    # Brazilian formats without a plus: 55 11 98765-4321, (11) 98765-4321, 11 3333-4444
    |(?P<br_phone>(?<![\w.])(?:55[\s.-]?)?(?:\(\d{2}\)\s?|\d{2}[\s.-]?)9?\d{4}[\s.-]?\d{4}(?![\w-]))
    # Local numbers without area code: 98765-4321, 3333-4444
    |(?P<local_phone>(?<![\w.\-/])9?\d{4}-\d{4}(?![\w-]))
    )
    """,
    re.VERBOSE,
)
_HAS_DIGIT = re.compile(r"\d").search


def _cpf_is_valid(digits: str) -> bool:
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    numbers = [int(d) for d in digits]
    for size in (9, 10):
        total = sum(n * w for n, w in zip(numbers[:size], range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != numbers[size]:
            return False
    return True


def _cnpj_is_valid(digits: str) -> bool:
    if len(digits) != 14 or digits == digits[0] * 14:
        return False
    numbers = [int(d) for d in digits]
    for size in (12, 13):
        weights = [*range(size - 7, 1, -1), *range(9, 1, -1)]
        total = sum(n * w for n, w in zip(numbers[:size], weights, strict=True))
        remainder = total % 11
        check = 0 if remainder < 2 else 11 - remainder
        if check != numbers[size]:
            return False
    return True


def _mask_phone_digits(digits: str, *, plus: bool) -> str:
    # E.164 keeps its country code (two digits) so on-call can tell a Brazilian number from another.
    head = f"+{digits[:2]}" if plus else ""
    hidden = len(digits) - 4 - (2 if plus else 0)
    return f"{head}{'*' * max(hidden, 1)}{digits[-4:]}"


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(0)[0]}***@***.{match.group('tld')}"


def _mask_secret(match: re.Match[str]) -> str:
    return match.group(0)[: match.start("value") - match.start()] + "***"


def _mask_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("cnpj") is not None:
        return f"**.***.***/****-{match.group('cnpj_dv')}"
    if match.group("cpf") is not None:
        return f"***.***.***-{match.group('cpf_dv')}"
    if match.group("digits") is not None:
        if _cpf_is_valid(text) or _cnpj_is_valid(text):
            return f"{'*' * (len(text) - 2)}{text[-2:]}"
        return _mask_phone_digits(text, plus=False)
    digits = "".join(ch for ch in text if ch.isdigit())
    return _mask_phone_digits(digits, plus=text.startswith("+"))


def mask_pii(text: str) -> str:
    """Return `text` with phone numbers, e-mails, CPF/CNPJ and URL/bearer secrets masked."""
    # Cheap substring tests first: most log values hold no "@", no token and few digits.
    if "@" in text:
        text = _EMAIL.sub(_mask_email, text)
    if "=" in text or "earer" in text:
        text = _SECRET.sub(_mask_secret, text)
    if _HAS_DIGIT(text):
        text = _NUMBERS.sub(_mask_number, text)
    return text


def mask_value(obj: Any) -> Any:
    """Mask every string inside `obj` (dicts, lists, tuples, sets), redacting credential keys."""
    if isinstance(obj, str):
        return mask_pii(obj)
    if isinstance(obj, Mapping):
        masked: dict[Any, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and value:
                masked[key] = REDACTED
            else:
                masked[mask_pii(key) if isinstance(key, str) else key] = mask_value(value)
        return masked
    if isinstance(obj, list):
        return [mask_value(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(mask_value(item) for item in obj)
    if isinstance(obj, (set, frozenset)):
        return {mask_value(item) for item in obj}
    return obj


_PASSTHROUGH = (int, float, bool, type(None))


def mask_pii_processor(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask every value of the event; objects are rendered to text first.

    Arbitrary objects would otherwise reach the renderer and be `repr`-ed there, unmasked.
    """
    for key, value in event_dict.items():
        if isinstance(value, _PASSTHROUGH):
            continue
        if isinstance(value, (str, Mapping, list, tuple, set, frozenset)):
            event_dict[key] = mask_value(value)
        else:
            event_dict[key] = mask_pii(str(value))
    return event_dict


def mask_identifier(value: str | None) -> str:
    """Phone numbers and user ids on pages show only their last 4 characters."""
    if not value:
        return "—"
    return f"•••{value[-4:]}"

"""Meta's webhook signature: HMAC-SHA256 of the raw body with the app secret, in X-Hub-Signature-256."""

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def sign_body(*, app_secret: str, body: bytes) -> str:
    """The header value Meta would send for this body (also used by Locust and `manage.py chat`)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def signature_is_valid(*, app_secret: str, body: bytes, header: str | None) -> bool:
    """True only for `sha256=<hex>` matching the body; compared in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX) or not app_secret:
        return False
    return hmac.compare_digest(sign_body(app_secret=app_secret, body=body), header.strip())

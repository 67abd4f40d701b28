"""The WhatsApp Cloud API client: sends, read receipts, templates and media over one pooled HTTP client."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from django.conf import settings
from django.core.cache import cache

from pyloto.process_cache import ProcessCache
from pyloto.whatsapp.errors import (
    WhatsAppPermanentError,
    WhatsAppTransientError,
    classify_graph_error,
    classify_transport_error,
)
from pyloto.whatsapp.payloads import MarkReadPayload, OutboundMessage, TemplateMessage, validate_recipient

log = structlog.get_logger(__name__)

# What the template sync reads of each template.
TEMPLATE_FIELDS = "id,name,language,status,category,components"


# Meta's media URLs are valid for 5 minutes: a resolved URL is reused for less than that.
_MEDIA_URL_CACHE_PREFIX = "whatsapp-media-url:"
# A media URL that answers these was revoked or expired: resolve the media id again, once.
_EXPIRED_URL_STATUSES = frozenset({401, 403, 404, 410})


@dataclass(frozen=True)
class MediaContent:
    """A downloaded media file (a customer's voice note, image or document)."""

    content: bytes
    mime_type: str

    @property
    def size(self) -> int:
        return len(self.content)


def recipient_hash(recipient: dict[str, str]) -> str:
    """A short, stable digest of a recipient address, so logs can correlate sends without holding the number."""
    address = recipient.get("to") or recipient.get("recipient") or ""
    return hashlib.sha256(address.encode()).hexdigest()[:12]


# Meta accepts up to 512 characters of biz_opaque_callback_data.
CALLBACK_DATA_MAX = 512


class WhatsAppClient:
    """Thin typed client of the Cloud API messages endpoint; raises classified transient/permanent errors."""

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: str,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.version_url = f"{base_url.rstrip('/')}/{api_version.strip('/')}"
        self.messages_url = f"{self.version_url}/{phone_number_id}/messages"
        # httpx.Client is thread-safe and pools keep-alive connections: one per process serves every thread.
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    @classmethod
    def from_settings(cls) -> WhatsAppClient:
        """The process-wide client for the configured account, built once and reused (connection pooling).

        Keyed on the settings and the process id: a forked Celery worker must not share its parent's sockets,
        and tests that point the base URL at a fake get a client for that fake.
        """
        base_url, api_version = settings.WHATSAPP_API_BASE_URL, settings.WHATSAPP_API_VERSION
        phone_number_id, access_token = settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_ACCESS_TOKEN
        timeout_s = float(settings.WHATSAPP_TIMEOUT_S)
        return _clients.get_or_create(
            (base_url, api_version, phone_number_id, access_token, timeout_s),
            lambda: cls(
                base_url=base_url,
                api_version=api_version,
                phone_number_id=phone_number_id,
                access_token=access_token,
                timeout_s=timeout_s,
            ),
        )

    def send(
        self, *, recipient: dict[str, str], message: OutboundMessage | TemplateMessage, callback_data: str | None = None
    ) -> str:
        """Send one message; returns the new message's wamid.

        `callback_data` goes out as `biz_opaque_callback_data`: Meta does not process it, only echoes it
        in the message's status webhooks, so a send whose answer we never read can still be identified.
        """
        payload = message.to_graph_payload(validate_recipient(recipient))
        if callback_data:
            payload["biz_opaque_callback_data"] = callback_data[:CALLBACK_DATA_MAX]
        fields = {"message_kind": message.kind, "recipient_hash": recipient_hash(recipient)}
        body = self._post(payload, event="whatsapp_send", fields=fields)
        try:
            wamid = body["messages"][0]["id"]
        except (KeyError, IndexError, TypeError):
            wamid = None
        if not isinstance(wamid, str) or not wamid:
            # A 2xx without a message id may still have been delivered: retrying could send twice, so the
            # caller gets a permanent error to record and an operator decides about a replay.
            log.error("whatsapp_send_bad_response", **fields)
            raise WhatsAppPermanentError(
                "WhatsApp Cloud API answered 2xx without a message id", code="bad_response", details={"body": body}
            )
        # Debug: the delivery service's `reply_sent` says the same at info (with the message's id).
        log.debug("whatsapp_send_ok", wamid=wamid, **fields)
        return wamid

    def mark_read(self, *, message_id: str, typing_indicator: bool = True) -> None:
        """Mark an inbound message read and, by default, show the typing indicator to the customer."""
        payload = MarkReadPayload(message_id=message_id, typing_indicator=typing_indicator).to_graph_payload()
        self._post(payload, event="whatsapp_mark_read", fields={"message_id": message_id})
        # Debug: the delivery service's `acknowledged` says the same at info.
        log.debug("whatsapp_mark_read_ok", message_id=message_id, typing_indicator=typing_indicator)

    def list_templates(self, *, business_account_id: str, page_size: int = 100, max_pages: int = 50) -> list[dict]:
        """Every message template of the WhatsApp Business Account (`GET /{WABA-ID}/message_templates`), all pages."""
        url: str | None = f"{self.version_url}/{business_account_id}/message_templates"
        params: dict[str, Any] | None = {"fields": TEMPLATE_FIELDS, "limit": page_size}
        templates: list[dict] = []
        for _page in range(max_pages):
            if url is None:
                break
            body = self._request("GET", url, params=params, event="whatsapp_list_templates", fields={})
            data = body.get("data")
            if not isinstance(data, list):
                raise WhatsAppPermanentError(
                    "message_templates answered without a data list", code="bad_response", details={"body": body}
                )
            templates.extend(item for item in data if isinstance(item, dict))
            paging = body.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            # The `next` link carries every query parameter (cursor included).
            url, params = (next_url, None) if isinstance(next_url, str) and next_url else (None, None)
        log.info("whatsapp_list_templates_ok", templates=len(templates))
        return templates

    def media_download(self, *, media_id: str, max_bytes: int) -> MediaContent:
        """A customer's media: `GET /{media-id}` gives a short-lived URL, fetched with the bearer token.

        Refuses (permanently) anything over `max_bytes`, whether Meta declares it or the bytes show it.
        The URL is cached for less than its validity; an expired one is resolved again once.
        """
        fields = {"media_id": media_id}
        for attempt in (1, 2):
            info = self._media_info(media_id, fields=fields, refresh=attempt > 1)
            declared = info.get("file_size")
            if isinstance(declared, int) and declared > max_bytes:
                raise WhatsAppPermanentError(
                    f"media of {declared} bytes is over the {max_bytes}-byte limit", code="media_too_large"
                )
            try:
                content = self._fetch_media(str(info["url"]), max_bytes=max_bytes, fields=fields)
            except _MediaUrlExpired:
                cache.delete(_MEDIA_URL_CACHE_PREFIX + media_id)
                if attempt == 1:
                    continue
                raise WhatsAppPermanentError("media URL expired twice", code="media_url_expired") from None
            log.info("whatsapp_media_downloaded", bytes=len(content), **fields)
            return MediaContent(content=content, mime_type=str(info.get("mime_type") or "application/octet-stream"))
        raise AssertionError("unreachable")

    def media_upload(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """Upload media for sending (`POST /{phone-number-id}/media`); returns its media id."""
        url = self.messages_url.rsplit("/", 1)[0] + "/media"
        body = self._request(
            "POST",
            url,
            event="whatsapp_media_upload",
            fields={"bytes": len(content)},
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        media_id = body.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise WhatsAppPermanentError("media upload answered without an id", code="bad_response")
        return media_id

    def _media_info(self, media_id: str, *, fields: dict[str, Any], refresh: bool) -> dict[str, Any]:
        key = _MEDIA_URL_CACHE_PREFIX + media_id
        cached = None if refresh else cache.get(key)
        if isinstance(cached, dict):
            return cached
        info = self._request("GET", f"{self.version_url}/{media_id}", event="whatsapp_media_info", fields=fields)
        if not isinstance(info.get("url"), str) or not info["url"]:
            raise WhatsAppPermanentError("media info without a URL", code="bad_response", details={"body": info})
        cache.set(key, info, timeout=settings.WHATSAPP_MEDIA_URL_TTL_S)
        return info

    def _fetch_media(self, url: str, *, max_bytes: int, fields: dict[str, Any]) -> bytes:
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code in _EXPIRED_URL_STATUSES:
                    raise _MediaUrlExpired
                if not response.is_success:
                    response.read()
                    raise classify_graph_error(response.status_code, _json_or_none(response))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise WhatsAppPermanentError(
                            f"media is over the {max_bytes}-byte limit", code="media_too_large"
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            error = classify_transport_error(exc)
            log.warning("whatsapp_media_fetch_failed", error_code=error.code, **fields)
            raise error from exc
        return b"".join(chunks)

    def close(self) -> None:
        """Close the pooled connections (the process-wide client normally lives as long as the process)."""
        self._http.close()

    def _post(self, payload: dict[str, Any], *, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", self.messages_url, json=payload, event=event, fields=fields)

    def _request(
        self,
        method: str,
        url: str,
        *,
        event: str,
        fields: dict[str, Any],
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = self._http.request(method, url, json=json, params=params, data=data, files=files)
        except httpx.HTTPError as exc:
            error = classify_transport_error(exc)
            log.warning(
                f"{event}_failed",
                error_code=error.code,
                transient=True,
                request_sent=error.details["request_sent"],
                duration_ms=_elapsed_ms(started),
                **fields,
            )
            raise error from exc
        body = _json_or_none(response)
        if response.is_success:
            return body if isinstance(body, dict) else {}
        refusal = classify_graph_error(response.status_code, body, retry_after=response.headers.get("Retry-After"))
        log.warning(
            f"{event}_failed",
            status_code=response.status_code,
            error_code=refusal.code,
            subcode=refusal.details.get("subcode"),
            fbtrace_id=refusal.details.get("fbtrace_id"),
            transient=isinstance(refusal, WhatsAppTransientError),
            retry_after=getattr(refusal, "retry_after", None),
            duration_ms=_elapsed_ms(started),
            **fields,
        )
        raise refusal


class _MediaUrlExpired(Exception):
    """The media URL answered as expired or revoked: resolve the media id again."""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


_clients: ProcessCache[WhatsAppClient] = ProcessCache()

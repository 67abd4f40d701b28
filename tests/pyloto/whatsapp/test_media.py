"""Media from the Graph API: the URL lookup, the authenticated download, size limits, URL expiry."""

import pytest
from django.core.cache import cache

from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.errors import WhatsAppPermanentError
from pyloto.whatsapp.simulator import FAKE_VOICE_NOTE_MIME, fake_voice_note


@pytest.fixture
def client(fake_graph):
    cache.clear()
    yield WhatsAppClient.from_settings()
    cache.clear()


def test_a_voice_note_is_resolved_then_fetched_with_the_bearer_token(client, fake_graph, settings):
    media_id = fake_graph.add_media(fake_voice_note("oi"), mime_type=FAKE_VOICE_NOTE_MIME)
    media = client.media_download(media_id=media_id, max_bytes=1024)
    assert media.content == fake_voice_note("oi")
    assert media.mime_type == FAKE_VOICE_NOTE_MIME
    lookups = [r for r in fake_graph.requests(kind="media")]
    assert [r["path"].endswith("/download") for r in lookups] == [False, True]
    assert {r["authorization"] for r in lookups} == {f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}
    # The resolved URL is reused while it is valid: a second download skips the lookup.
    client.media_download(media_id=media_id, max_bytes=1024)
    assert [r["path"].endswith("/download") for r in fake_graph.requests(kind="media")] == [False, True, True]


def test_an_expired_url_is_resolved_again_once(client, fake_graph):
    media_id = fake_graph.add_media(b"abc", mime_type="audio/ogg")
    client.media_download(media_id=media_id, max_bytes=1024)
    fake_graph.configure(media_expired_fetches=1)
    assert client.media_download(media_id=media_id, max_bytes=1024).content == b"abc"
    paths = [r["path"].endswith("/download") for r in fake_graph.requests(kind="media")]
    assert paths == [False, True, True, False, True]
    fake_graph.configure(media_expired_fetches=2)
    with pytest.raises(WhatsAppPermanentError) as error:
        client.media_download(media_id=media_id, max_bytes=1024)
    assert error.value.code == "media_url_expired"


def test_media_over_the_size_limit_is_refused(client, fake_graph):
    media_id = fake_graph.add_media(b"x" * 2048, mime_type="audio/ogg")
    with pytest.raises(WhatsAppPermanentError) as error:
        client.media_download(media_id=media_id, max_bytes=1024)
    assert error.value.code == "media_too_large"
    # Not only when Meta declares the size: the bytes are counted as they arrive.
    assert (
        client._fetch_media(f"{fake_graph.base_url}/_fake/media/{media_id}/download", max_bytes=4096, fields={})
        == b"x" * 2048
    )
    with pytest.raises(WhatsAppPermanentError):
        client._fetch_media(f"{fake_graph.base_url}/_fake/media/{media_id}/download", max_bytes=100, fields={})


def test_an_unknown_media_id_is_a_permanent_error(client):
    with pytest.raises(WhatsAppPermanentError):
        client.media_download(media_id="999", max_bytes=1024)


def test_upload_stores_media_the_fake_serves_back(client):
    media_id = client.media_upload(content=b"audio!", mime_type="audio/ogg", filename="voice.ogg")
    assert client.media_download(media_id=media_id, max_bytes=1024).content == b"audio!"

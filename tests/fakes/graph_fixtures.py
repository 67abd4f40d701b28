"""Pytest fixtures for the fake Graph API: one server per test session, reset and re-pointed per test."""

from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings

from tests.fakes.graph_server import FakeGraph, running_graph_server


@pytest.fixture(scope="session")
def fake_graph_server() -> Iterator[FakeGraph]:
    """The session's fake Graph API server, requiring the test settings' token and phone number id."""
    with running_graph_server(
        access_token=django_settings.WHATSAPP_ACCESS_TOKEN,
        phone_number_id=django_settings.WHATSAPP_PHONE_NUMBER_ID,
    ) as graph:
        yield graph


@pytest.fixture
def fake_graph(fake_graph_server: FakeGraph, settings) -> Iterator[FakeGraph]:
    """A clean fake (no records, default behaviour) with `WHATSAPP_API_BASE_URL` pointing at it."""
    fake_graph_server.reset()
    fake_graph_server.configure(
        access_token=settings.WHATSAPP_ACCESS_TOKEN, phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID
    )
    settings.WHATSAPP_API_BASE_URL = fake_graph_server.base_url
    yield fake_graph_server
    fake_graph_server.reset()

"""Fixtures of the pipeline's own tests."""

import pytest

from pyloto.pipeline import sweeper


@pytest.fixture
def enqueued(monkeypatch):
    """What the sweeper enqueues (the broker itself is covered by the end-to-end tests)."""
    sent: dict[str, list[int]] = {"runs": [], "sends": []}
    monkeypatch.setattr(sweeper, "run_enqueue", lambda *, conversation_id: sent["runs"].append(conversation_id))
    monkeypatch.setattr(sweeper, "reply_send_enqueue", lambda *, message_id: sent["sends"].append(message_id))
    return sent

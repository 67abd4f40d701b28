"""Fixtures for the conversations tests: actors and staff users with the handoff permissions."""

import pytest

from conversations.services.state import Actor
from conversations.states import Perm
from tests.factories import UserFactory

ALL_STAFF_PERMS = [Perm.HANDLE, Perm.COMMIT_PRICE, Perm.CLOSE_CONTRACT, "conversations.view_conversation"]


@pytest.fixture
def bot() -> Actor:
    return Actor.bot()


@pytest.fixture
def system() -> Actor:
    return Actor.system()


@pytest.fixture
def agent():
    """A staff member who may take, resolve, return, send proposals and close contracts."""
    return UserFactory(staff=True, permissions=ALL_STAFF_PERMS)


@pytest.fixture
def support_agent():
    """A staff member who may handle the queue but never commit to a price or close a contract."""
    return UserFactory(staff=True, permissions=[Perm.HANDLE, "conversations.view_conversation"])

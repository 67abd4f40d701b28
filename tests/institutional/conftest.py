"""Fixtures for the institutional tests: a fresh process cache per test and a product-team user."""

import pytest

from institutional.loader import process_loader
from institutional.services import product_team_group_sync

from .factories import ProductTeamUserFactory


@pytest.fixture(autouse=True)
def _fresh_process_cache():
    """Each test starts as a freshly started process would: nothing loaded yet."""
    process_loader.forget()
    yield
    process_loader.forget()


@pytest.fixture
def product_user(db):
    # The data migration creates the group; a transactional test elsewhere may have flushed it.
    product_team_group_sync()
    return ProductTeamUserFactory(username="produto")

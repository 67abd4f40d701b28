"""Makes the fake Graph API fixtures available here until the root conftest loads them as a plugin."""

from tests.fakes.graph_fixtures import fake_graph, fake_graph_server  # noqa: F401

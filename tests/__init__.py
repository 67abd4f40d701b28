"""The test suite: pytest-django + factory-boy against real PostgreSQL and Redis."""

"""End-to-end tests: a real Celery worker, Redis, PostgreSQL and the fake OpenAI and Graph servers."""

"""Local fake servers that speak the OpenAI and Graph APIs, for tests, load tests and the benchmark."""

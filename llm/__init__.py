"""LLM prompts, output schemas, the OpenAI-compatible client, DB-free tasks and the offline provider."""

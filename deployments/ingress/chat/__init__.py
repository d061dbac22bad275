"""The OpenAI-compatible chat API: ``POST /v1/chat/completions`` and ``GET /v1/models``."""

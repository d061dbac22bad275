"""Generator stage: vLLM through ray.serve.llm, or an announced extractive fallback."""

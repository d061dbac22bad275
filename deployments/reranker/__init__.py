"""ColBERT late-interaction reranker stage.

Modules: ``config`` (RerankerConfig), ``maxsim`` (numpy scoring), ``codec`` (token
matrices <-> VARCHAR-sized strings), ``checkpoint`` and ``encoder`` (token embeddings),
``core`` (rerank without Ray) and ``deployment`` (the Serve shim and its builder).
Nothing is imported here, so ``import deployments.reranker.codec`` stays light.
"""

"""ColBERT late-interaction reranker stage.

Modules: ``config`` (RerankerConfig), ``maxsim`` (numpy scoring), ``core`` (rerank without
Ray) and ``deployment`` (the Serve shim and its builder). The token encoder and the token
codec it shares with the Ingester live in ``deployments.common``. Nothing is imported
here, so ``import deployments.reranker.maxsim`` stays light.
"""

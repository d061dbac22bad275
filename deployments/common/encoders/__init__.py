"""The models that turn text into vectors: the dense embedder (sentence-transformers) and
the late-interaction token encoder (a ColBERT checkpoint or the packaged MiniLM), plus the
passage encoder ingestion uses to get both from one forward pass where the model allows.

Nothing is imported here, so ``import deployments.common.encoders.config`` stays light.
"""

"""Retriever stage: query embeddings and dense, BM25 or hybrid search over the shared Milvus."""

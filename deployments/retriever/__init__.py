"""Retriever stage: chunking, embeddings and Milvus hybrid search."""

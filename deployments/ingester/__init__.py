"""Ingestion stage: chunk documents, encode each chunk once, store it all-or-nothing."""

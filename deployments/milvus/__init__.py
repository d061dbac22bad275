"""The local profile's Milvus: ``milvus-lite server`` owned by a one-replica deployment."""

"""Milvus, as every stage reaches it: by URI (a Milvus server, or ``milvus-lite server``).

Modules: ``config`` (MilvusConfig), ``expr`` (the one place values become Milvus
expression text), ``schema`` (the chunk and token collections), ``search`` (first-stage
requests and typed hits), ``milvus`` (MilvusStore, the typed adapter) and ``lite``
(running ``milvus-lite server`` as a child process).
Nothing is imported here, so ``import deployments.common.store.expr`` stays light.
"""

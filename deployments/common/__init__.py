"""The ground floor's shared logic: what more than one stage needs.

Stage packages (``deployments/<stage>/``) import from here and from the top-level modules
of ``deployments`` (types, errors, metrics, cache, devices), never from each other; nothing
here imports a stage. ``tests/deployments/test_layering.py`` holds the rule.

- ``ids``, ``chunking``: document ids, chunk ids, and how documents become chunks;
- ``fusion``: reciprocal rank fusion; ``prompt``, ``generation``: the LLM request;
- ``codec``: passage token vectors as text for the store;
- ``encoders``: the dense embedder and the late-interaction token encoder;
- ``store``: the Milvus adapter (schema, expressions, reads, writes) and the Lite server.
"""

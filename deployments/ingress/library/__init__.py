"""The document library and ingestion jobs over HTTP: ``/v1/documents`` and ``/v1/ingest/jobs``."""

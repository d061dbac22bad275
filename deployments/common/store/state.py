"""What must outlive a replica, kept in Milvus beside the data (``<collection>_state``).

- **Jobs**: one row per ingestion job, its status and lease (owner's heartbeat) in
  scalar fields a query can filter on, the rest as JSON.
- **Inputs**: the documents a job was given, as JSON text cut into pieces of at most
  :data:`~deployments.common.store.schema.PAYLOAD_BYTES`, so a replica that takes the job
  over (after the one running it died) reads exactly what was submitted.
- **Cancel requests**: a row of their own, which the job's runner never writes, so a
  cancel cannot be overwritten by a progress update racing it.
- **The corpus stamp**: a fresh value written after every change to what search can see
  (documents added, replaced, deleted). A cached answer remembers the stamp read before
  it was computed and is served only while the stamp is unchanged.

Why Milvus: it is the one store every profile already runs and every stage reaches (Lite
locally, the Milvus cluster on Kubernetes), it persists to the same volume as the data
the jobs write, and job state must survive exactly what the data survives.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from deployments.common.store import schema
from deployments.common.store.expr import field_equals, field_in
from deployments.common.store.milvus import MilvusStore
from deployments.types import Document

logger = logging.getLogger(__name__)

CORPUS_KEY = "corpus"
_JOB_FIELDS = ["key", "status", "heartbeat", "value"]


class StateStore:
    """Jobs, their inputs and the corpus stamp in ``store``'s state collection."""

    def __init__(self, store: MilvusStore) -> None:
        self.store = store
        self.name = store.cfg.state_collection
        store.attach(self.name, schema.state_schema, "state schema check")

    # -- corpus stamp -------------------------------------------------------------------
    def corpus_stamp(self) -> str:
        """The current stamp ("" before anything was ever stored)."""
        rows = self.store.call(  # by primary key: the cheapest read (read on every query)
            "corpus stamp read",
            self.store.client.get,
            self.name,
            ids=[CORPUS_KEY],
            output_fields=["value"],
        )
        return str(rows[0]["value"].get("stamp", "")) if rows else ""

    def bump_corpus(self) -> str:
        """Record that searchable content changed; returns the new stamp."""
        stamp = uuid.uuid4().hex
        self._upsert([_row(CORPUS_KEY, "corpus", value={"stamp": stamp})], "corpus stamp write")
        return stamp

    # -- jobs ---------------------------------------------------------------------------
    def put_job(self, job_id: str, status: str, heartbeat: float, value: dict[str, Any]) -> None:
        row = _row(job_id, "job", job_id=job_id, status=status, heartbeat=heartbeat, value=value)
        self._upsert([row], "job write")

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job's JSON value with its ``status`` and ``heartbeat``, or None."""
        rows = self._latest(
            f'kind == "job" and {field_equals("key", job_id)}', _JOB_FIELDS, "job read"
        )
        return _job(rows[0]) if rows else None

    def jobs(self, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every job (or those with one of ``statuses``), read at the collection's
        consistency: on a Milvus cluster it may miss the last seconds' writes, so a
        decision about one job re-reads it with :meth:`job`."""
        where = 'kind == "job"'
        if statuses:
            where += f" and {field_in('status', statuses)}"
        return [_job(r) for r in self._rows(where, _JOB_FIELDS, "job list")]

    def request_cancel(self, job_id: str) -> None:
        self._upsert([_row(f"cancel/{job_id}", "cancel", job_id=job_id)], "cancel write")

    def cancel_requested(self, job_id: str) -> bool:
        where = f'kind == "cancel" and {field_equals("key", f"cancel/{job_id}")}'
        return bool(self._latest(where, ["key"], "cancel read"))

    # -- job inputs ---------------------------------------------------------------------
    def stage(self, job_id: str, docs: Sequence[Document]) -> None:
        """Keep ``docs`` for the job (all in one write, before the job row is)."""
        rows = []
        for i, doc in enumerate(docs):
            text = json.dumps(
                [doc.doc_id, doc.text, doc.title, doc.metadata, doc.version], ensure_ascii=False
            )
            for j, piece in enumerate(_pieces(text, schema.PAYLOAD_BYTES)):
                key = f"input/{job_id}/{i:07d}/{j:04d}"
                rows.append(_row(key, "input", job_id=job_id, payload=piece))
        for start in range(0, len(rows), 64):
            self._upsert(rows[start : start + 64], "job input write")

    def staged(self, job_id: str) -> list[Document]:
        """The documents staged for the job, in the order given."""
        where = f'kind == "input" and {field_equals("job_id", job_id)}'
        rows = sorted(self._rows(where, ["key", "payload"], "job input read"), key=_key)
        docs: dict[str, list[str]] = {}
        for row in rows:
            docs.setdefault(row["key"].rsplit("/", 1)[0], []).append(row["payload"])
        out = []
        for pieces in docs.values():
            doc_id, text, title, metadata, version = json.loads("".join(pieces))
            out.append(Document(doc_id, text, title, metadata, version))
        return out

    def drop_inputs(self, job_id: str) -> None:
        """Delete the job's staged documents and cancel request (it has ended)."""
        where = f'kind in ["input", "cancel"] and {field_equals("job_id", job_id)}'
        self.store.call("job input delete", self.store.client.delete, self.name, filter=where)

    def forget_job(self, job_id: str) -> None:
        """Delete the job's row, inputs and cancel request."""
        self.store.call(
            "job delete",
            self.store.client.delete,
            self.name,
            filter=field_equals("job_id", job_id),
        )

    # -- plumbing -----------------------------------------------------------------------
    def _rows(self, where: str, fields: list[str], what: str) -> list[dict[str, Any]]:
        return self.store.scan(self.name, where, fields, what)

    def _latest(self, where: str, fields: list[str], what: str) -> list[dict[str, Any]]:
        """The few rows of a lookup by key, read after every write made before it.

        Claims and cancels are decided on these reads, across replicas. The collection's
        default consistency (Bounded) may hide a write of the last seconds on a Milvus
        cluster, and ``query_iterator`` always reads at that level, so lookups are plain
        queries at Strong consistency.
        """
        return self.store.call(
            what,
            self.store.client.query,
            self.name,
            filter=where,
            output_fields=fields,
            consistency_level="Strong",
        )

    def _upsert(self, rows: list[dict[str, Any]], what: str) -> None:
        self.store.call(what, self.store.client.upsert, self.name, rows)


def _row(
    key: str,
    kind: str,
    *,
    job_id: str = "",
    status: str = "",
    heartbeat: float = 0.0,
    value: dict[str, Any] | None = None,
    payload: str = "",
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind,
        "job_id": job_id,
        "status": status,
        "heartbeat": heartbeat,
        "value": value or {},
        "payload": payload,
        "placeholder": schema.PLACEHOLDER,
    }


def _job(row: dict[str, Any]) -> dict[str, Any]:
    return {**row["value"], "status": row["status"], "heartbeat": row["heartbeat"]}


def _key(row: dict[str, Any]) -> str:
    return row["key"]


def _pieces(text: str, max_bytes: int) -> list[str]:
    """``text`` in pieces of at most ``max_bytes`` UTF-8 bytes, never inside a character.

    >>> _pieces("aé" * 3, 5)
    ['aéa', 'éaé']
    """
    data = text.encode("utf-8")
    out, start = [], 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # inside a character
            end -= 1
        out.append(data[start:end].decode("utf-8"))
        start = end
    return out or [""]

"""Ingest files into the running graph: ``python -m graph.ingest PATH... [--url URL]``.

PATHs are files or folders (searched recursively) of text, Markdown, PDF (text layer)
and HTML (:mod:`graph.readers`). Each file is one document. Its id is a hash of its text
(``--ids content``, the default: the same file twice is stored once) or its path
relative to the folder given (``--ids path``: with ``--replace``, a file whose content
changed replaces its old version, whole).

Files go to the graph as ingestion jobs (``POST /v1/ingest/jobs``), several files to a
job up to ``--job-mb`` of text; the command follows each job's progress with a bar and
reports what was stored, skipped and refused. Ctrl-C cancels the running job (documents
already stored stay, each whole). A file larger than one job takes is sent as parts
(split at paragraphs, each its own document with ``metadata.part`` / ``metadata.parts``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from deployments.common.ids import content_id
from graph.client import DEFAULT_URL, ApiError, call, die, wait_ready
from graph.readers import SUFFIXES, read_file

POLL_S = 1.0


def find_files(paths: list[str]) -> list[tuple[Path, Path]]:
    """Every supported file under ``paths``, sorted, without duplicates, each with the
    folder it was found under (its id root for ``--ids path``)."""
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUFFIXES:
                    found.setdefault(f.resolve(), path.resolve())
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                die(f"{path}: unsupported file type; use {', '.join(SUFFIXES)}")
            found.setdefault(path.resolve(), path.resolve().parent)
        else:
            die(f"{path}: no such file or directory")
    return list(found.items())


def split_text(text: str, limit: int) -> list[str]:
    r"""``text`` in parts of at most ``limit`` characters, cut at paragraph breaks where
    possible, else at the last space (else anywhere).

    >>> split_text("aaa\n\nbbb\n\ncc", 9)
    ['aaa\n\nbbb', 'cc']
    >>> split_text("one two three", 8)
    ['one two', 'three']
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip():
        parts.append(rest)
    return parts


def documents(
    files: list[tuple[Path, Path]], *, ids: str = "content", max_chars: int = 4_000_000
) -> Iterator[tuple[Path, dict | str]]:
    """(file, document body) per document, or (file, why it was left out)."""
    for path, root in files:
        try:
            doc = read_file(path)
        except ValueError as exc:
            yield path, str(exc)
            continue
        if not doc.text.strip():
            yield path, "no text"
            continue
        parts = split_text(doc.text, max_chars)
        base = path.relative_to(root).as_posix() if ids == "path" else None
        for n, part in enumerate(parts, start=1):
            meta = dict(doc.metadata)
            if len(parts) > 1:
                meta.update(part=n, parts=len(parts))
            doc_id = base if base is None or len(parts) == 1 else f"{base}#part{n}"
            yield (
                path,
                {
                    "id": doc_id or content_id(part),
                    "title": doc.title,
                    "text": part,
                    "metadata": meta,
                },
            )


def corpus(paths: list[str]) -> list[dict]:
    """The document bodies of every readable file under ``paths`` (ids: content hashes)."""
    return [doc for _, doc in documents(find_files(paths)) if isinstance(doc, dict)]


@dataclass
class Totals:
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    errors: list[dict] = field(default_factory=list)
    failed_jobs: list[str] = field(default_factory=list)


def run_job(url: str, body: dict, bar: tqdm, totals: Totals) -> None:
    """Submit one job and follow it to its end, advancing ``bar`` by its characters."""
    chars = sum(len(d["text"]) for d in body["documents"])
    job = call("POST", url, "/v1/ingest/jobs", body)
    shown = 0.0
    try:
        while job["status"] in ("queued", "running"):
            time.sleep(POLL_S)
            job = call("GET", url, f"/v1/ingest/jobs/{job['job_id']}")
            now = job["progress"] * chars
            bar.update(now - shown)
            shown = now
            bar.set_postfix(job=job["job_id"][:8], chunks=totals.chunks + job["chunks"])
    except KeyboardInterrupt:
        call("DELETE", url, f"/v1/ingest/jobs/{job['job_id']}")
        bar.write(f"cancelled job {job['job_id']}; documents stored so far stay")
        raise
    bar.update(chars - shown)
    docs = job["documents"]
    totals.stored += docs["done"]
    totals.skipped += docs["skipped"]
    totals.failed += docs["failed"]
    totals.chunks += job["chunks"]
    totals.errors.extend(job["errors"])
    if job["status"] != "succeeded":
        totals.failed_jobs.append(f"{job['job_id']}: {job['status']} {job.get('message') or ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help=f"files or folders of {', '.join(SUFFIXES)}")
    parser.add_argument("--url", default=DEFAULT_URL, help="graph URL (default %(default)s)")
    parser.add_argument("--ids", choices=("content", "path"), default="content")
    parser.add_argument("--replace", action="store_true", help="replace changed documents")
    parser.add_argument("--job-mb", type=float, default=4.0, help="text per job, MB")
    parser.add_argument("--wait", type=float, default=0, help="wait this long for readiness")
    args = parser.parse_args(argv)
    files = find_files(args.paths)
    if not files:
        die(f"no {', '.join(SUFFIXES)} files under {' '.join(args.paths)}")
    max_chars = int(args.job_mb * 1_000_000)
    on_existing = "replace" if args.replace else "skip"
    totals, left_out = Totals(), []
    try:
        if args.wait:
            wait_ready(args.url, timeout_s=args.wait)
        found = list(documents(files, ids=args.ids, max_chars=max_chars))
        docs = [d for _, d in found if isinstance(d, dict)]
        left_out = [(path, why) for path, why in found if isinstance(why, str)]
        bar = tqdm(total=sum(len(d["text"]) for d in docs), unit="char", unit_scale=True)
        batch: list[dict] = []
        for doc in docs:
            if batch and sum(len(d["text"]) for d in batch) + len(doc["text"]) > max_chars:
                run_job(args.url, {"documents": batch, "on_existing": on_existing}, bar, totals)
                batch = []
            batch.append(doc)
        if batch:
            run_job(args.url, {"documents": batch, "on_existing": on_existing}, bar, totals)
        bar.close()
    except ApiError as exc:
        die(str(exc))
    except KeyboardInterrupt:
        return 130
    print(
        f"stored {totals.stored} document(s) as {totals.chunks} chunk(s); skipped "
        f"{totals.skipped} already stored; {totals.failed} refused; {len(left_out)} file(s) "
        "left out"
    )
    for path, why in left_out:
        print(f"  left out: {path}: {why}")
    for error in totals.errors:
        print(f"  refused: {error['doc_id']}: {error['message']}")
    for job in totals.failed_jobs:
        print(f"  job {job}")
    return 1 if totals.failed or totals.failed_jobs else 0


if __name__ == "__main__":
    raise SystemExit(main())

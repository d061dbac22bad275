"""Ingest files into the running graph: ``python -m graph.ingest PATH... [--url URL]``.

PATHs are files or folders (searched recursively) of .md, .txt and .pdf. Each file
is one document whose id is a hash of its text, so ingesting the same file twice
stores it once. Chunking happens in the graph (llama-index's SentenceSplitter), so
documents ingested here and through ``POST /v1/documents`` are treated alike.

A request carries at most ``MAX_REQUEST_TEXT_CHARS`` of text (what the graph ingests
well within a request's deadline), so files are sent in batches under that budget, and a
file larger than it is sent as parts (split at paragraphs, each its own document with
``metadata.part`` / ``metadata.parts``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from deployments.ingress.schemas import MAX_REQUEST_TEXT_CHARS
from graph.client import DEFAULT_URL, ApiError, die, post, wait_ready

SUFFIXES = (".md", ".txt", ".pdf")


def find_files(paths: list[str]) -> list[Path]:
    """Every supported file under ``paths``, sorted, without duplicates."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUFFIXES:
                    found.setdefault(f.resolve(), None)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                die(f"{path}: unsupported file type; use {', '.join(SUFFIXES)}")
            found.setdefault(path.resolve(), None)
        else:
            die(f"{path}: no such file or directory")
    return list(found)


def read_text(path: Path) -> str:
    """The text of a .md/.txt (UTF-8) or .pdf file."""
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        return "\n\n".join((page.extract_text() or "") for page in PdfReader(path).pages)
    return path.read_text(encoding="utf-8", errors="replace")


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


def documents(files: list[Path]) -> Iterator[tuple[Path, dict | None]]:
    for f in files:
        text = read_text(f)
        if not text.strip():
            yield f, None
            continue
        title = f.stem.replace("_", " ").replace("-", " ")
        parts = split_text(text, MAX_REQUEST_TEXT_CHARS)
        for n, part in enumerate(parts, start=1):
            meta = (
                {"source": f.name}
                if len(parts) == 1
                else {"source": f.name, "part": n, "parts": len(parts)}
            )
            yield f, {"title": title, "text": part, "metadata": meta}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help="files or folders of .md/.txt/.pdf")
    parser.add_argument("--url", default=DEFAULT_URL, help="graph URL (default %(default)s)")
    parser.add_argument("--batch", type=int, default=8, help="documents per request")
    parser.add_argument("--wait", type=float, default=0, help="wait this long for readiness")
    args = parser.parse_args(argv)
    files = find_files(args.paths)
    if not files:
        die(f"no {', '.join(SUFFIXES)} files under {' '.join(args.paths)}")
    try:
        if args.wait:
            wait_ready(args.url, timeout_s=args.wait)
        stored = skipped = chunks = 0
        empty: list[Path] = []
        batch: list[tuple[Path, dict]] = []
        bar = tqdm(total=len(files), unit="file", desc="ingesting")

        def flush() -> None:
            nonlocal stored, skipped, chunks
            if not batch:
                return
            reply = post(args.url, "/v1/documents", {"documents": [d for _, d in batch]})
            stored, skipped, chunks = (
                stored + reply["stored"],
                skipped + reply["skipped"],
                chunks + reply["chunks"],
            )
            # a file sent in parts counts once, with its last part
            bar.update(
                sum(d["metadata"].get("part") == d["metadata"].get("parts") for _, d in batch)
            )
            batch.clear()

        for path, doc in documents(files):
            if doc is None:
                empty.append(path)
                bar.update(1)
                continue
            if batch and sum(len(d["text"]) for _, d in batch) + len(doc["text"]) > (
                MAX_REQUEST_TEXT_CHARS
            ):
                flush()
            batch.append((path, doc))
            if len(batch) >= args.batch:
                flush()
        flush()
        bar.close()
    except ApiError as exc:
        die(str(exc))
    print(
        f"stored {stored} document(s) as {chunks} chunk(s); skipped {skipped} already "
        f"stored; {len(empty)} empty file(s) ignored"
    )
    for path in empty:
        print(f"  empty: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

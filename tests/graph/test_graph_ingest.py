from __future__ import annotations

from pathlib import Path

import pytest

from graph.ingest import corpus, documents, find_files


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (enough for pypdf to extract)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "a.md").write_text("# A\nAlpha.")
    (tmp_path / "b.txt").write_text("Beta.")
    (tmp_path / "NOTES.MD").write_text("Upper-case suffix.")
    (tmp_path / "sub" / "c.pdf").write_bytes(_minimal_pdf("Gamma from a PDF"))
    (tmp_path / "sub" / "deep" / "d.txt").write_text("Delta.")
    (tmp_path / "sub" / "skip.py").write_text("print('no')")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "noext").write_text("no suffix")
    (tmp_path / "dir.md").mkdir()  # a folder with a supported suffix is not a file
    return tmp_path


def test_find_files_picks_supported_suffixes_recursively(tree: Path) -> None:
    found = [path for path, _ in find_files([str(tree)])]
    rel = [p.relative_to(tree).as_posix() for p in found]
    assert sorted(rel) == ["NOTES.MD", "a.md", "b.txt", "sub/c.pdf", "sub/deep/d.txt"]
    assert rel == sorted(rel)
    assert all(p.is_absolute() for p in found)


def test_find_files_dedupes_folders_and_files(tree: Path) -> None:
    found = [path for path, _ in find_files([str(tree / "b.txt"), str(tree), str(tree / "sub")])]
    assert found[0] == (tree / "b.txt").resolve()
    assert len(found) == len(set(found)) == 5


def test_nonexistent_path_exits(tree: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        find_files([str(tree), str(tree / "missing")])
    assert info.value.code == 1
    assert "missing: no such file or directory" in capsys.readouterr().err


def test_unsupported_file_named_explicitly_exits(tree: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        find_files([str(tree / "image.png")])
    assert "unsupported file type" in capsys.readouterr().err


def test_every_format_becomes_a_document_with_a_content_id(tree: Path) -> None:
    docs = {d["text"].strip(): d for d in corpus([str(tree)])}
    assert set(docs) == {"# A\nAlpha.", "Beta.", "Upper-case suffix.", "Gamma from a PDF", "Delta."}
    assert docs["Gamma from a PDF"]["metadata"] == {"source": "c.pdf", "format": "pdf", "pages": 1}
    assert docs["Beta."]["title"] == "b"
    assert len({d["id"] for d in docs.values()}) == 5


def test_path_ids_are_relative_to_the_folder_given(tree: Path) -> None:
    found = dict(documents(find_files([str(tree)]), ids="path"))
    assert found[(tree / "sub" / "deep" / "d.txt").resolve()]["id"] == "sub/deep/d.txt"


def test_a_file_larger_than_a_job_goes_in_numbered_parts(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text("\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(40)))
    parts = [d for _, d in documents(find_files([str(big)]), ids="path", max_chars=1000)]
    assert len(parts) > 4
    assert [p["metadata"]["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["metadata"]["parts"] for p in parts} == {len(parts)}
    assert parts[0]["id"] == "big.md#part1"
    assert all(len(p["text"]) <= 1000 for p in parts)


def test_empty_and_unreadable_files_are_left_out_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n\t")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    reasons = dict(documents(find_files([str(tmp_path)])))
    assert reasons[(tmp_path / "empty.txt").resolve()] == "no text"
    assert "broken.pdf" in reasons[(tmp_path / "broken.pdf").resolve()]

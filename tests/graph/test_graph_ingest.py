from __future__ import annotations

from pathlib import Path

import pytest

from graph.ingest import documents, find_files, read_text


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
    found = find_files([str(tree)])
    rel = [p.relative_to(tree).as_posix() for p in found]
    assert sorted(rel) == ["NOTES.MD", "a.md", "b.txt", "sub/c.pdf", "sub/deep/d.txt"]
    assert rel == sorted(rel)
    assert all(p.is_absolute() for p in found)


def test_find_files_dedupes_folders_and_files(tree: Path) -> None:
    found = find_files([str(tree / "b.txt"), str(tree), str(tree / "sub")])
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


def test_read_text_of_txt_md_and_pdf(tree: Path) -> None:
    assert read_text(tree / "b.txt") == "Beta."
    assert read_text(tree / "a.md") == "# A\nAlpha."
    assert "Gamma from a PDF" in read_text(tree / "sub" / "c.pdf")


def test_read_text_replaces_invalid_utf8(tmp_path: Path) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("café".encode("latin-1"))
    assert read_text(f) == "caf\ufffd"


def test_documents_carry_title_and_source_and_mark_empty_files(tmp_path: Path) -> None:
    full = tmp_path / "getting_started-guide.md"
    full.write_text("Install it.")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\t")

    out = dict(documents([full, empty]))

    assert out[full] == {
        "title": "getting started guide",
        "text": "Install it.",
        "metadata": {"source": "getting_started-guide.md"},
    }
    assert out[empty] is None
    assert list(out) == [full, empty]

"""graph.readers: each supported format read back as one document (no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import SimpleDirectoryReader
from pypdf import PdfWriter

from graph.readers import READERS, SUFFIXES, FileDocument, read_file
from tests.support.pdfs import write_pdf

TEXT = "Grüezi from Zürich.\n\nZweiter Absatz: naïve café, 東京.\n"


def test_the_supported_suffixes() -> None:
    assert SUFFIXES == (".txt", ".md", ".markdown", ".pdf", ".html", ".htm")


def test_a_text_file_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "city_notes-2024.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert read_file(path) == FileDocument(
        title="city notes 2024", text=TEXT, metadata={"source": path.name, "format": "text"}
    )


@pytest.mark.parametrize("name", ["guide.md", "GUIDE.Markdown"])
def test_markdown_is_kept_as_it_is_in_one_document(tmp_path: Path, name: str) -> None:
    markdown = "# Zürich\n\nIntro.\n\n## Trams\n\n- line 4\n- line 11\n\n```py\nx = 1\n```\n"
    path = tmp_path / name
    path.write_text(markdown, encoding="utf-8")
    doc = read_file(path)
    assert (doc.title, doc.text) == (Path(name).stem, markdown)
    assert doc.metadata == {"source": name, "format": "markdown"}


def test_undecodable_bytes_are_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Zürich".encode("latin-1"))
    assert read_file(path).text == "Z\ufffdrich"


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_gives_the_visible_text_and_the_title(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"page{suffix}"
    path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Zürich  guide</title>"
        "<style>body { color: red }</style><script>var secret = 'alert(1)';</script></head>"
        "<body><h1>Zürich</h1><!-- a comment --><p>Trams run\n   every <b>7</b> minutes.</p>"
        "<ul><li>Line 4</li><li>Line 11</li></ul><noscript>Enable JS</noscript>"
        "<script src='x.js'></script></body></html>",
        encoding="utf-8",
    )
    doc = read_file(path)
    assert doc.title == "Zürich guide"
    assert doc.text == "Zürich\n\nTrams run every 7 minutes.\n\nLine 4\nLine 11"
    assert doc.metadata == {"source": path.name, "format": "html"}
    for hidden in ("color", "secret", "alert", "comment", "Enable JS", "guide"):
        assert hidden not in doc.text


def test_html_without_a_title_is_named_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "release_notes.html"
    path.write_text("<p>Fixed: Zürich</p>", encoding="utf-8")
    assert (read_file(path).title, read_file(path).text) == ("release notes", "Fixed: Zürich")


def test_a_pdf_gives_every_page_sentence_and_its_page_count(tmp_path: Path) -> None:
    path = tmp_path / "five-pages.pdf"
    written = write_pdf(path, pages=5)
    doc = read_file(path)
    assert doc.title == "five pages"
    assert doc.metadata == {"source": path.name, "format": "pdf", "pages": 5}
    assert doc.text.split("\n\n") == written  # pages joined by blank lines, in order
    assert "Zürich" in doc.text and "São Paulo" in doc.text


def test_a_300_page_pdf_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"
    written = write_pdf(path)
    doc = read_file(path)
    assert doc.metadata["pages"] == 300
    assert doc.text.split("\n\n") == written


def test_write_pdf_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "x.pdf", tmp_path / "b" / "x.pdf"
    first.parent.mkdir()
    second.parent.mkdir()
    assert write_pdf(first, pages=3) == write_pdf(second, pages=3)
    assert first.read_bytes() == second.read_bytes()


def test_an_unsupported_suffix_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"report\.docx.*unsupported.*'\.docx'.*\.pdf"):
        read_file(path)


def test_a_pdf_without_text_asks_for_ocr(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(path)
    with pytest.raises(ValueError, match=r"scan\.pdf: no text layer: run OCR first"):
        read_file(path)


def test_a_password_protected_pdf_asks_for_decryption(tmp_path: Path) -> None:
    write_pdf(tmp_path / "plain.pdf", pages=1)
    writer = PdfWriter(clone_from=tmp_path / "plain.pdf")
    writer.encrypt(user_password="secret", algorithm="AES-256")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(ValueError, match=r"locked\.pdf: .*password-protected; decrypt it"):
        read_file(tmp_path / "locked.pdf")


def test_a_pdf_locked_only_against_editing_reads(tmp_path: Path) -> None:
    written = write_pdf(tmp_path / "plain.pdf", pages=2)
    writer = PdfWriter(clone_from=tmp_path / "plain.pdf")
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    writer.write(tmp_path / "restricted.pdf")
    assert read_file(tmp_path / "restricted.pdf").text.split("\n\n") == written


@pytest.mark.parametrize("content", [b"", b"%PDF-1.7\nthis is not really a pdf"])
def test_a_broken_pdf_is_refused_with_the_fix(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.pdf: not a readable PDF .*re-export"):
        read_file(path)


def test_the_readers_plug_into_simple_directory_reader(tmp_path: Path) -> None:
    write_pdf(tmp_path / "a.pdf", pages=2)
    (tmp_path / "b.html").write_text("<title>B</title><p>Zürich</p>", encoding="utf-8")
    docs = SimpleDirectoryReader(
        input_files=[tmp_path / "a.pdf", tmp_path / "b.html"],
        file_extractor=dict(READERS),
        raise_on_error=True,
    ).load_data()
    assert [d.metadata["format"] for d in docs] == ["pdf", "html"]
    assert [d.text for d in docs] == [read_file(tmp_path / n).text for n in ("a.pdf", "b.html")]

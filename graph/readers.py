"""One file -> the text of one document: plain text, Markdown, PDF (text layer) and HTML.

The readers are llama-index ``BaseReader``s returning one ``Document`` per file, so
``SimpleDirectoryReader(input_files=..., file_extractor=dict(READERS))`` uses them as they
are. They are written here over pypdf and BeautifulSoup rather than taken from
``llama-index-readers-file`` (its ``PDFReader``/``HTMLTagReader``): every release of that
package up to 0.7.0 requires ``pypdf<7`` (and ``pandas<3``), which this project's
``pypdf==7.1.0`` excludes. Its ``MarkdownReader`` would also split a file at headers,
where one document per file is wanted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, NavigableString
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

logger = logging.getLogger(__name__)

_HIDDEN = ("script", "style", "noscript", "template", "title")
# What follows each of these elements in the text: a space, a newline or a blank line.
_BREAKS: dict[str, str] = {
    **dict.fromkeys(("td", "th"), " "),
    **dict.fromkeys(("br", "li", "dt", "dd", "tr", "caption", "figcaption"), "\n"),
    **dict.fromkeys(("p", "div", "section", "article", "header", "footer", "main"), "\n\n"),
    **dict.fromkeys(("nav", "aside", "blockquote", "pre", "table", "ul", "ol", "dl"), "\n\n"),
    **dict.fromkeys(("form", "figure", "hr", "h1", "h2", "h3", "h4", "h5", "h6"), "\n\n"),
}


@dataclass(frozen=True)
class FileDocument:
    """A file read as one document: what ``POST /v1/documents`` takes."""

    title: str
    """From the file (an HTML ``<title>``) or else its name (:func:`default_title`)."""
    text: str
    """The whole text; PDF pages are separated by blank lines."""
    metadata: dict[str, Any]
    """``source`` (file name), ``format`` and, for a PDF, ``pages`` (its page count)."""


class TextFileReader(BaseReader):
    """A UTF-8 text file as it is; undecodable bytes become U+FFFD."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        text = Path(file).read_text(encoding="utf-8", errors="replace")
        return [Document(text=text, metadata={**(extra_info or {}), "format": self.fmt})]


class PdfTextReader(BaseReader):
    """A PDF's text layer (pypdf), pages joined by blank lines; no OCR."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        try:
            reader = PdfReader(file)
            pages = [(page.extract_text() or "").strip() for page in reader.pages]
        except FileNotDecryptedError as exc:
            raise ValueError(
                f"{file}: the PDF is password-protected; decrypt it first "
                "(e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`)"
            ) from exc
        except (PyPdfError, DependencyError) as exc:
            raise ValueError(
                f"{file}: not a readable PDF ({exc}); re-export or repair it (e.g. with qpdf)"
            ) from exc
        if not any(pages):
            raise ValueError(
                f"{file}: no text layer: run OCR first (e.g. `ocrmypdf in.pdf out.pdf`)"
            )
        if blank := pages.count(""):
            logger.warning("%s: %s of %s pages have no text layer", file, blank, len(pages))
        meta = {**(extra_info or {}), "format": "pdf", "pages": len(pages)}
        return [Document(text="\n\n".join(p for p in pages if p), metadata=meta)]


class HtmlTextReader(BaseReader):
    """An HTML page's visible text (no script, style or title), read as UTF-8."""

    def load_data(self, file: Path, extra_info: dict[str, Any] | None = None) -> list[Document]:
        markup = Path(file).read_text(encoding="utf-8", errors="replace")
        title, text = html_text(markup)
        meta = {**(extra_info or {}), "format": "html", **({"title": title} if title else {})}
        return [Document(text=text, metadata=meta)]


def html_text(markup: str) -> tuple[str, str]:
    r"""The ``<title>`` (or "") and the visible text of an HTML page.

    Whitespace is collapsed as a browser would (except inside ``<pre>``); block elements
    end a paragraph (blank line); list items, table rows and ``<br>`` end a line.

    >>> html_text("<title> A  page </title><style>p {}</style><h1>Hi</h1>"
    ...           "<p>One\n <b>two</b></p><ul><li>x</li><li>y</li></ul><script>f()</script>"
    ...           "<table><tr><td>a</td><td>b</td></tr></table>")
    ('A page', 'Hi\n\nOne two\n\nx\ny\n\na b')
    """
    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    for tag in soup.find_all(_HIDDEN):
        tag.decompose()
    for string in soup.find_all(string=True):
        if type(string) is NavigableString and string.find_parent("pre") is None:
            string.replace_with(re.sub(r"\s+", " ", string))
    for tag in soup.find_all(list(_BREAKS)):
        tag.insert_after(_BREAKS[tag.name])
    lines = (line.strip() for line in soup.get_text().splitlines())
    return title, re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def default_title(path: Path) -> str:
    """A title from a file name: its stem with ``_`` and ``-`` turned into spaces.

    >>> default_title(Path("docs/annual_report-2024.pdf"))
    'annual report 2024'
    """
    return path.stem.replace("_", " ").replace("-", " ")


READERS: dict[str, BaseReader] = {
    ".txt": TextFileReader("text"),
    ".md": TextFileReader("markdown"),
    ".markdown": TextFileReader("markdown"),
    ".pdf": PdfTextReader(),
    ".html": HtmlTextReader(),
    ".htm": HtmlTextReader(),
}
SUFFIXES: tuple[str, ...] = tuple(READERS)


def read_file(path: Path) -> FileDocument:
    """Read one file as one document.

    Args:
        path: A file whose suffix (any case) is one of :data:`SUFFIXES`.

    Returns:
        Its title, text and metadata (``source``, ``format``, ``pages`` for a PDF).

    Raises:
        ValueError: An unsupported suffix, an unreadable or encrypted PDF, or a PDF without
            a text layer; the message names the file and the fix.
    """
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(
            f"{path}: unsupported file type {path.suffix!r}; convert it to one of "
            f"{', '.join(SUFFIXES)}"
        )
    (doc,) = reader.load_data(path, extra_info={"source": path.name})
    metadata = dict(doc.metadata)
    title = metadata.pop("title", "") or default_title(path)
    return FileDocument(title=title, text=doc.text, metadata=metadata)

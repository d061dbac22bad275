"""Write PDFs with a real text layer for reader tests (reportlab, a test dependency).

Every page carries 3-5 distinct sentences that name the page number and a few words drawn
deterministically from small lists (one sentence per line, short enough never to wrap), so
a test can look for each sentence in what a reader extracts. The output is byte-identical
between runs (reportlab's ``invariant`` mode fixes the dates and document id).
"""

from __future__ import annotations

from pathlib import Path

SUBJECTS = ("the archive", "a river survey", "the night shift", "our field team", "the ledger")
VERBS = ("records", "questions", "maps", "revisits", "summarises", "compares")
OBJECTS = ("tidal gauges", "copper prices", "glacier retreat", "tram timetables", "bee colonies")
PLACES = ("Zürich", "Malmö", "São Paulo", "Kraków", "Lyon", "Oslo", "Porto")


def page_sentences(page: int) -> list[str]:
    """The sentences written on ``page`` (1-based): 3 to 5, each naming the page.

    >>> page_sentences(1)[0]
    'On page 1, the night shift revisits glacier retreat near Malmö.'
    >>> [len(page_sentences(n)) for n in (1, 2, 3)]
    [4, 5, 3]
    """
    out = []
    for k in range(3 + page % 3):
        i = page * 7 + k * 3
        out.append(
            f"On page {page}, {SUBJECTS[i % len(SUBJECTS)]} {VERBS[(i // 2) % len(VERBS)]} "
            f"{OBJECTS[(i + k) % len(OBJECTS)]} near {PLACES[(page + k) % len(PLACES)]}."
        )
    return out


def write_pdf(path: Path, pages: int = 300) -> list[str]:
    """Write a ``pages``-page A4 PDF whose text layer holds :func:`page_sentences`.

    Args:
        path: Where to write the PDF (its folder must exist).
        pages: How many pages.

    Returns:
        Each page's text as written: its sentences joined with newlines, one line each.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4, invariant=1)
    written: list[str] = []
    for page in range(1, pages + 1):
        sentences = page_sentences(page)
        canvas.setFont("Helvetica", 11)
        for line, sentence in enumerate(sentences):
            canvas.drawString(72, A4[1] - 72 - 16 * line, sentence)
        canvas.showPage()
        written.append("\n".join(sentences))
    canvas.save()
    return written

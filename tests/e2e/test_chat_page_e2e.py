"""The chat page in a real browser (Debian's chromium driven by Playwright) against the
running graph: a document added through the page's form, an answer streamed token by
token with its sources, a cited passage opened in the side panel, and a second question
sent with the first turn's messages.

The graph's LLM has random weights, so the answer text is gibberish and may contain no
``[n]``; the page's sources list then stands in for the in-text references.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest
from playwright.sync_api import Page, Request, sync_playwright

pytestmark = pytest.mark.e2e

CHAT_PATH = "/v1/chat/completions"
ANSWER_TIMEOUT_MS = 120_000
"""Upper bound per answer; the tiny LLM answers 16 tokens in a few seconds."""
DOC = {
    "title": "The Skerryvore lighthouse keepers",
    "text": "Keepers of the Skerryvore lighthouse trimmed the lamp wicks every four hours "
    "through the night. Supplies reached the tower by boat from the island of Tiree, "
    "weather permitting, once a fortnight.",
}
QUESTIONS = (
    "How often did the Skerryvore lighthouse keepers trim the lamp wicks?",
    "Where did supplies for the tower come from?",
)


def unexpected(kind: str, text: str) -> bool:
    """A console message that is a problem: any error but the 413 the test provokes (a
    blocked resource, for one, is reported here)."""
    return kind == "error" and "status of 413" not in text


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, looked up before the graph starts, so its absence fails fast."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: run `apt-get install chromium` (scripts/setup.sh "
            "does it); the chat page's browser test drives Debian's chromium, not a "
            "Playwright download"
        )
    return path


def sse_reply(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The answer text and citations of one streamed chat completion body."""
    answer, citations = "", []
    for line in text.splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = json.loads(line.removeprefix("data:"))
        assert "error" not in chunk, chunk
        for choice in chunk.get("choices", []):
            answer += choice.get("delta", {}).get("content") or ""
            if choice.get("finish_reason"):
                citations = chunk.get("citations", [])
    return answer, citations


def wait_for_turn(page: Page, turn: int) -> dict[str, Any]:
    """Wait until the page has finished answering ``turn``; fail with its error if it did."""
    page.wait_for_function(
        "turn => window.ragChat.events.some(e => e.turn === turn && e.type !== 'delta')",
        arg=turn,
        timeout=ANSWER_TIMEOUT_MS,
    )
    events = page.evaluate("turn => window.ragChat.events.filter(e => e.turn === turn)", turn)
    end = events[-1]
    assert end["type"] == "done", f"turn {turn} failed on the page: {end['message']}"
    return {"deltas": [e for e in events if e["type"] == "delta"], "done": end}


def ask(page: Page, question: str, turn: int) -> tuple[dict[str, Any], str]:
    """Ask ``question`` through the page; the page's events and the raw streamed body."""
    page.fill("#question", question)
    with page.expect_response(
        lambda r: r.url.endswith(CHAT_PATH), timeout=ANSWER_TIMEOUT_MS
    ) as reply:
        page.click("#ask")
    observed = wait_for_turn(page, turn)
    response = reply.value
    assert response.status == 200, response.text()
    assert response.headers["content-type"].startswith("text/event-stream")
    return observed, response.text()


def add_document_through_the_form(page: Page) -> None:
    page.fill("#doc-title", DOC["title"])
    page.fill("#doc-text", DOC["text"])
    with page.expect_response(lambda r: r.url.endswith("/v1/documents")) as reply:
        page.click("#doc-add")
    assert reply.value.status == 200, reply.value.text()
    stored = reply.value.json()
    page.wait_for_selector("#doc-result.ok")
    result = page.text_content("#doc-result")
    assert stored["stored"] == 1 and stored["chunks"] >= 1, stored
    assert f"Stored 1 document ({stored['chunks']} chunk" in result, result
    assert stored["ids"][0] in result, result


def show_an_error_from_the_form(page: Page) -> None:
    """Text over the per-request budget: the page shows the server's own message."""
    page.fill("#doc-title", "Too long")
    page.fill("#doc-text", "word " * 14_000)  # 70,000 characters
    with page.expect_response(lambda r: r.url.endswith("/v1/documents")) as reply:
        page.click("#doc-add")
    assert reply.value.status == 413, reply.value.text()
    message = reply.value.json()["error"]["message"]
    page.wait_for_selector("#doc-result.error")
    assert message in page.text_content("#doc-result")


def drive_the_chat_page(executable: str, base_url: str, screenshot: str | None = None) -> None:
    """Everything the page promises, through the ``executable`` chromium, against the API
    at ``base_url``; a screenshot of the end to ``screenshot`` if given."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox"], headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: unexpected(m.type, m.text) and problems.append(m.text))
            requests: list[Request] = []
            page.on("request", lambda request: requests.append(request))

            page.goto(base_url + "/")
            page.wait_for_function(
                "() => !['not loaded yet', 'unavailable'].includes("
                "document.getElementById('model').textContent)"
            )
            show_an_error_from_the_form(page)
            add_document_through_the_form(page)

            # First question: the answer streams in, then its sources arrive.
            first, body = ask(page, QUESTIONS[0], turn=1)
            answer, citations = sse_reply(body)
            partial = {d["length"] for d in first["deltas"] if 0 < d["length"] < len(answer)}
            assert len(partial) >= 2, f"the answer did not grow chunk by chunk: {first['deltas']}"
            assert first["done"]["length"] == len(answer) > 0
            assert citations, "the answer came without citations"
            assert any(c["title"] == DOC["title"] for c in citations), citations
            turn1 = page.locator('.message.assistant[data-turn="1"]')
            assert turn1.locator(".source-ref").count() == len(citations)

            refs = turn1.locator(".citation-ref")
            ref = refs.first if refs.count() else turn1.locator(".source-ref").first
            n = int(ref.get_attribute("data-n"))
            ref.click()
            page.wait_for_selector("#passage", state="visible")
            cited = citations[n - 1]
            assert page.text_content("#passage-text") == cited["text"]
            assert page.text_content("#passage-title") == (cited["title"] or "(untitled)")

            # Second question: the first turn stays, and is sent along.
            ask(page, QUESTIONS[1], turn=2)
            assert page.locator(".message.user").count() == 2
            assert page.locator(".message.user .content").first.text_content() == QUESTIONS[0]
            assert turn1.locator(".source-ref").count() == len(citations)
            chats = [r for r in requests if r.url.endswith(CHAT_PATH) and r.method == "POST"]
            assert len(chats) == 2
            sent = json.loads(chats[1].post_data)
            assert sent["stream"] is True
            assert sent["messages"] == [
                {"role": "user", "content": QUESTIONS[0]},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": QUESTIONS[1]},
            ]

            elsewhere = [r.url for r in requests if not r.url.startswith((base_url, "data:"))]
            assert not elsewhere, f"the page fetched from elsewhere: {elsewhere}"
            assert not problems, problems
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()


def test_the_chat_page_streams_cites_and_keeps_the_conversation(chromium, graph):
    drive_the_chat_page(chromium, graph.url, os.environ.get("RAG_CHAT_SCREENSHOT"))

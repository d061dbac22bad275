// The chat page: streams answers from the same origin's OpenAI-compatible API
// (POST v1/chat/completions with stream: true, read as server-sent events through fetch),
// keeps the conversation's turns, links [n] in answers to their cited passages, and adds
// documents through POST v1/documents. No build step, no dependencies.
//
// window.ragChat.events records what the page did, for tests and debugging:
//   {type: "delta", turn, read, length}  after each content delta (length of the answer so far)
//   {type: "done", turn, length, citations, finishReason}
//   {type: "error", turn, status, message}
"use strict";

(() => {
  const KEY_STORAGE = "rag.apiKey";
  const ENDPOINTS = {
    models: "v1/models",
    chat: "v1/chat/completions",
    documents: "v1/documents",
  };
  const REF_PATTERN = /\[(\d+(?:\s*,\s*\d+)*)\]/g;

  const state = {
    model: null, // data[0].id of GET v1/models, fetched once per API key
    history: [], // the completed turns, sent with every question
    busy: false,
    controller: null,
    turns: 0,
    openRef: null, // the button whose passage the panel shows
  };
  const citationsOf = new WeakMap(); // assistant message element -> its citations
  const debug = (window.ragChat = { events: [], history: state.history });

  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name in node) node[name] = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  };

  // ---- HTTP ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, { status = null, type = null, retryAfter = null, requestId = null } = {}) {
      super(message);
      this.name = "ApiError";
      Object.assign(this, { status, type, retryAfter, requestId });
    }

    // What the page shows: the server's message, then what to do about it.
    describe() {
      const parts = [this.message];
      if (this.status === 401) parts.push("Enter a valid API key above.");
      if (this.status === 403) parts.push("This API key is not allowed to do that.");
      if (this.retryAfter !== null) parts.push(`Retry after ${this.retryAfter} s.`);
      else if (this.status === 503) parts.push("The server is busy; try again shortly.");
      const ref = [
        this.status && `HTTP ${this.status}`,
        this.type,
        this.requestId && `request ${this.requestId}`,
      ]
        .filter(Boolean)
        .join(", ");
      return ref ? `${parts.join(" ")} (${ref})` : parts.join(" ");
    }
  }

  function describeError(err) {
    if (err.name === "AbortError") return "Stopped.";
    return err instanceof ApiError ? err.describe() : `Something went wrong: ${err.message}`;
  }

  function authHeaders(extra = {}) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
  }

  // An HTTP error reply as an ApiError: the contract's {"error": {...}} body when there is one.
  async function httpError(response) {
    const retry = response.headers.get("Retry-After");
    let body = null;
    let text = "";
    try {
      text = await response.text();
      body = JSON.parse(text);
    } catch {
      // not JSON: the status line (and any text) is all there is
    }
    const error = body && typeof body.error === "object" && body.error ? body.error : {};
    const message =
      error.message ||
      (typeof body?.detail === "string" && body.detail) ||
      text.trim().slice(0, 300) ||
      `${response.status} ${response.statusText || "error"}`;
    return new ApiError(message, {
      status: response.status,
      type: error.type || null,
      retryAfter: retry && retry.trim() ? retry.trim() : null,
      requestId: error.request_id || response.headers.get("X-Request-Id"),
    });
  }

  async function getJson(url, options = {}) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(`Could not reach the server: ${err.message}`);
    }
    if (!response.ok) throw await httpError(response);
    return response;
  }

  async function ensureModel() {
    if (state.model) return state.model;
    const response = await getJson(ENDPOINTS.models, {
      headers: authHeaders({ Accept: "application/json" }),
    });
    const listing = await response.json();
    const id = listing?.data?.[0]?.id;
    if (!id) throw new ApiError("The server lists no model (GET v1/models returned no data).");
    state.model = id;
    $("model").textContent = id;
    return id;
  }

  // Server-sent events from a fetch body: yields each event's data (its data: lines joined).
  async function* sseData(body, onRead) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (value) onRead();
        buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
        buffer = buffer.replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const data = eventData(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (data !== null) yield data;
        }
        if (done) {
          const data = eventData(buffer);
          if (data !== null) yield data;
          return;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  function eventData(raw) {
    const lines = raw
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    return lines.length ? lines.join("\n") : null;
  }

  // ---- Conversation ---------------------------------------------------------------------

  function addMessage(role, label) {
    $("empty")?.remove();
    const content = el("div", { className: "content" });
    const article = el(
      "article",
      { className: `message ${role}`, dataset: { testid: `message-${role}` } },
      el("h3", { className: "role" }, label),
      content,
    );
    $("messages").append(article);
    return { article, content };
  }

  function scrollToEnd() {
    const log = $("messages");
    log.scrollTop = log.scrollHeight;
  }

  // The answer's text with each [n] (or [n, m]) that names a citation as a button.
  function renderAnswer(content, text, citations) {
    content.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(REF_PATTERN)) {
      const numbers = match[1].split(",").map((n) => Number(n.trim()));
      if (!numbers.every((n) => n >= 1 && n <= citations.length)) continue;
      content.append(text.slice(last, match.index));
      for (const n of numbers) content.append(refButton("citation-ref", n, `[${n}]`, citations[n - 1]));
      last = match.index + match[0].length;
    }
    content.append(text.slice(last));
  }

  function refButton(className, n, label, citation) {
    return el(
      "button",
      {
        type: "button",
        className,
        dataset: { n: String(n) },
        title: citation.title || citation.doc_id,
        "aria-controls": "passage",
        "aria-label": `Source ${n}: ${citation.title || citation.doc_id}`,
      },
      label,
    );
  }

  function renderSources(article, citations) {
    if (!citations.length) {
      article.append(el("p", { className: "sources none" }, "No sources were cited."));
      return;
    }
    const list = el("ol", { className: "sources-list" });
    citations.forEach((citation, i) => {
      const button = refButton("source-ref", i + 1, citation.title || citation.doc_id, citation);
      list.append(el("li", { className: "source", dataset: { testid: "source" } }, button));
    });
    const heading = el("h4", {}, "Sources");
    const sources = el("section", { className: "sources", dataset: { testid: "sources" } }, heading);
    article.append(sources);
    sources.append(list);
  }

  function describeFinish(finishReason, usage) {
    const notes = [];
    if (finishReason === "length") notes.push("Cut short at the token limit.");
    // An extractive answer (no LLM) reports 0 tokens: nothing worth saying then.
    if (usage && Number.isFinite(usage.completion_tokens) && usage.completion_tokens > 0) {
      notes.push(`${usage.completion_tokens} tokens generated (prompt ${usage.prompt_tokens ?? "?"}).`);
    }
    return notes.join(" ");
  }

  // Reads the streamed reply into `turn`; resolves to {text, citations, finishReason, usage}.
  async function readStream(response, turn) {
    const result = { text: "", citations: [], finishReason: null, usage: null, done: false };
    const live = document.createTextNode("");
    turn.content.replaceChildren(live);
    let reads = 0;
    for await (const data of sseData(response.body, () => reads++)) {
      if (data === "[DONE]") {
        result.done = true;
        break;
      }
      let chunk;
      try {
        chunk = JSON.parse(data);
      } catch {
        throw new ApiError(`The server sent an unreadable event: ${data.slice(0, 200)}`);
      }
      if (chunk.error) {
        const e = chunk.error;
        throw new ApiError(e.message || "The answer failed while streaming.", {
          type: e.type || null,
          status: typeof e.code === "number" ? e.code : null,
        });
      }
      if (chunk.usage) result.usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const delta = choice.delta?.content;
      if (typeof delta === "string" && delta) {
        result.text += delta;
        live.appendData(delta);
        const length = result.text.length;
        debug.events.push({ type: "delta", turn: turn.number, read: reads, length });
        scrollToEnd();
      }
      if (choice.finish_reason) {
        result.finishReason = choice.finish_reason;
        if (Array.isArray(chunk.citations)) result.citations = chunk.citations;
      }
    }
    if (!result.done && !result.finishReason) {
      throw new ApiError("The answer stream ended before the answer was complete.");
    }
    return result;
  }

  // A server that answered without streaming: one chat.completion object.
  async function readJson(response) {
    const body = await response.json();
    const choice = body.choices?.[0] || {};
    return {
      text: choice.message?.content || "",
      citations: body.citations || choice.citations || [],
      finishReason: choice.finish_reason || null,
      usage: body.usage || null,
    };
  }

  async function ask(question) {
    if (state.busy) return;
    const number = ++state.turns;
    const user = addMessage("user", "You");
    user.content.textContent = question;
    const turn = addMessage("assistant", "Assistant");
    turn.number = number;
    turn.article.dataset.turn = String(number);
    turn.article.setAttribute("aria-busy", "true");
    turn.content.append(el("span", { className: "pending" }, "Thinking…"));
    scrollToEnd();

    const messages = [...state.history, { role: "user", content: question }];
    setBusy(true);
    try {
      const model = await ensureModel();
      const response = await getJson(ENDPOINTS.chat, {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
        signal: state.controller.signal,
      });
      const streamed = (response.headers.get("Content-Type") || "").includes("text/event-stream");
      const result = streamed ? await readStream(response, turn) : await readJson(response);
      citationsOf.set(turn.article, result.citations);
      renderAnswer(turn.content, result.text, result.citations);
      if (!result.text) turn.content.append(el("span", { className: "pending" }, "(empty answer)"));
      renderSources(turn.article, result.citations);
      const note = describeFinish(result.finishReason, result.usage);
      if (note) turn.article.append(el("p", { className: "meta" }, note));
      state.history.push(
        { role: "user", content: question },
        { role: "assistant", content: result.text },
      );
      debug.events.push({
        type: "done",
        turn: number,
        length: result.text.length,
        citations: result.citations.length,
        finishReason: result.finishReason,
      });
      setStatus("");
    } catch (err) {
      failTurn(turn, err);
    } finally {
      turn.article.removeAttribute("aria-busy");
      setBusy(false);
      scrollToEnd();
    }
  }

  function failTurn(turn, err) {
    turn.article.classList.add("failed");
    turn.content.querySelector(".pending")?.remove();
    const message = describeError(err);
    turn.article.append(
      el("p", { className: "error", role: "alert", dataset: { testid: "error" } }, message),
      el("p", { className: "meta" }, "This question is not sent again with later questions."),
    );
    debug.events.push({ type: "error", turn: turn.number, status: err.status ?? null, message });
  }

  function setBusy(busy) {
    state.busy = busy;
    state.controller = busy ? new AbortController() : null;
    $("ask").disabled = busy;
    $("stop").hidden = !busy;
    $("messages").setAttribute("aria-busy", String(busy));
    setStatus(busy ? "Answering…" : "");
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function newChat() {
    state.controller?.abort();
    state.history.length = 0;
    closePassage();
    const empty = el("p", { id: "empty", className: "empty" }, "New conversation. Ask a question.");
    $("messages").replaceChildren(empty);
    $("question").focus();
  }

  // ---- Passage panel --------------------------------------------------------------------

  function showPassage(button) {
    const article = button.closest(".message");
    const n = Number(button.dataset.n);
    const citation = citationsOf.get(article)?.[n - 1];
    if (!citation) return;
    state.openRef?.classList.remove("active");
    state.openRef = button;
    button.classList.add("active");
    $("passage-number").textContent = `[${n}]`;
    $("passage-title").textContent = citation.title || "(untitled)";
    const meta = [`document ${citation.doc_id}`, `chunk ${citation.chunk_id}`];
    if (Number.isFinite(citation.score)) meta.push(`score ${citation.score.toFixed(3)}`);
    $("passage-meta").textContent = meta.join(" · ");
    $("passage-text").textContent = citation.text;
    const panel = $("passage");
    panel.hidden = false;
    panel.focus();
  }

  function closePassage() {
    const panel = $("passage");
    if (panel.hidden) return;
    panel.hidden = true;
    const trigger = state.openRef;
    state.openRef = null;
    trigger?.classList.remove("active");
    if (trigger?.isConnected) trigger.focus();
  }

  // ---- Documents ------------------------------------------------------------------------

  async function addDocument(event) {
    event.preventDefault();
    const title = $("doc-title").value.trim();
    const text = $("doc-text").value;
    const result = $("doc-result");
    result.className = "doc-result";
    if (!text.trim()) {
      result.classList.add("error");
      result.textContent = "Enter the document's text.";
      $("doc-text").focus();
      return;
    }
    const documents = [title ? { title, text } : { text }];
    $("doc-add").disabled = true;
    result.textContent = "Adding…";
    try {
      const response = await getJson(ENDPOINTS.documents, {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json", Accept: "application/json" }),
        body: JSON.stringify({ documents }),
      });
      const reply = await response.json();
      const ids = (reply.ids || []).join(", ");
      const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
      const what = reply.stored
        ? `Stored ${plural(reply.stored, "document")} (${plural(reply.chunks, "chunk")})`
        : "Nothing new stored";
      const skipped = reply.skipped ? `; ${reply.skipped} already stored` : "";
      result.classList.add("ok");
      result.textContent = `${what}${skipped}. Id: ${ids || "none"}.`;
      $("doc-form").reset();
    } catch (err) {
      result.classList.add("error");
      result.textContent = describeError(err);
    } finally {
      $("doc-add").disabled = false;
    }
  }

  // ---- Wiring ---------------------------------------------------------------------------

  function init() {
    const keyInput = $("api-key");
    keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
    const saveKey = () => {
      const key = keyInput.value.trim();
      if (key === (sessionStorage.getItem(KEY_STORAGE) || "")) return;
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
      state.model = null; // the models list may need the key
      loadModel();
    };
    keyInput.addEventListener("change", saveKey);
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      saveKey();
    });

    const question = $("question");
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (!text || state.busy) return;
      question.value = "";
      ask(text);
    });
    question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
    $("stop").addEventListener("click", () => state.controller?.abort());
    $("clear").addEventListener("click", newChat);

    $("messages").addEventListener("click", (event) => {
      const button = event.target.closest(".citation-ref, .source-ref");
      if (button) showPassage(button);
    });
    $("passage-close").addEventListener("click", closePassage);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closePassage();
    });

    $("doc-form").addEventListener("submit", addDocument);
    loadModel();
  }

  async function loadModel() {
    try {
      await ensureModel();
    } catch (err) {
      $("model").textContent = "unavailable";
      setStatus(`Could not load the model list: ${describeError(err)}`);
    }
  }

  init();
})();

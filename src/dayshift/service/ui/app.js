// dayshift web UI: ask, watch the answer stream in, read its sources, rate it, inspect its trace.
//
// Plain ES module with no dependencies and no build step; it talks only to this server
// (paths are relative, so the UI also works behind a path prefix). Every piece of server
// text enters the page through textContent or text nodes, never innerHTML.
//
//   POST v1/ask {question, where, stream: true}  -> text/event-stream:
//        token {text}* -> answer AskResponse -> citations [Citation] -> done {trace_id}
//     or token* -> error {error, status, detail} -> done
//   POST v1/feedback {trace_id, rating, comment}  GET v1/traces/{id}  GET v1/traces?limit=n
//
// Modules: dom.js (DOM helpers), server.js (API calls, server-sent events), trace_view.js
// (a trace drawn as nodes); this file is the page: the answer, sources, feedback, traces, tabs.
//
// Left out: search-only views, document upload and key management (the CLI and /docs do those).

import { $, el, fmtMs, fmtTime, show } from "./dom.js";
import { ApiError, KEY_STORE, api, authHeaders, problemOf, sseEvents } from "./server.js";
import { traceNodes } from "./trace_view.js";

const FILTER_STORE = "dayshift.filters";
const RECENT_LIMIT = 25;

/** The filter field as `where` expressions: split on commas or semicolons outside quotes. */
function whereList() {
  const text = $("filters").value;
  const parts = [];
  let current = "";
  let quote = null;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      current += ch;
    } else if (ch === "," || ch === ";" || ch === "\n") {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

// -- the answer -------------------------------------------------------------

const state = {
  controller: null, // AbortController of the answer in flight
  traceId: null, // the current answer's trace
  citations: new Map(), // n -> Citation
  draft: "",
  tokens: 0,
};

function setCard(kind, status) {
  $("answer-card").dataset.state = kind;
  $("answer-status").textContent = status;
}

function resetAnswer(question) {
  state.traceId = null;
  state.citations = new Map();
  state.draft = "";
  state.tokens = 0;
  setCard("streaming", "Answering…");
  const asked = $("asked");
  asked.textContent = question;
  show(asked, true);
  const text = $("answer-text");
  text.replaceChildren(el("span", { class: "draft", "data-testid": "draft" }), el("span", { class: "cursor" }));
  text.setAttribute("aria-busy", "true");
  show($("abstain-reason"), false);
  show($("withdrawn"), false);
  show($("sources"), false);
  $("source-list").replaceChildren();
  show($("confidence-wrap"), false);
  show($("token-count"), false);
  show($("answer-foot"), false);
  resetFeedback();
}

function appendDraft(piece) {
  state.draft += piece;
  state.tokens += 1;
  const draft = $("answer-text").querySelector(".draft");
  if (draft) draft.append(piece);
  const count = $("token-count");
  count.textContent = `${state.tokens} token${state.tokens === 1 ? "" : "s"}`;
  show(count, true);
}

/** Answer text with each [n] that names a citation made into a button that opens the passage. */
function answerNodes(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (!state.citations.has(n)) continue;
    nodes.push(text.slice(last, match.index));
    nodes.push(
      el("button", {
        type: "button", class: "cite", "data-testid": "cite-marker", "data-n": n,
        "aria-label": `Source ${n}: ${state.citations.get(n).location}`, onclick: () => openPassage(n),
      }, `[${n}]`),
    );
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes.filter((n) => n !== "");
}

function showAnswer(answer) {
  state.traceId = answer.trace_id;
  state.citations = new Map(answer.citations.map((c) => [c.n, c]));
  const text = $("answer-text");
  text.setAttribute("aria-busy", "false");
  if (answer.abstained) {
    setCard("abstained", "I don't know");
    text.replaceChildren(el("p", { class: "final" }, answer.answer));
    const reason = $("abstain-reason");
    reason.replaceChildren(el("strong", {}, "Why: "), answer.reason || "the sources do not answer this question");
    show(reason, true);
    if (state.draft.trim()) {
      $("withdrawn-text").textContent = state.draft;
      show($("withdrawn"), true);
    }
  } else {
    setCard("answered", answer.supported ? "Answer" : "Answer (weakly supported)");
    text.replaceChildren(el("p", { class: "final", "data-testid": "final-answer" }, ...answerNodes(answer.answer)));
  }
  showConfidence(answer.confidence);
  showSources(answer.citations);
  $("trace-id").textContent = answer.trace_id;
  show($("answer-foot"), true);
  setFeedbackEnabled(true);
}

function showConfidence(confidence) {
  const value = Math.max(0, Math.min(1, Number(confidence) || 0));
  $("confidence").textContent = value.toFixed(2);
  $("confidence-fill").style.width = `${(value * 100).toFixed(1)}%`;
  $("confidence-wrap").dataset.level = value >= 0.7 ? "high" : value >= 0.4 ? "mid" : "low";
  show($("confidence-wrap"), true);
}

function showSources(citations) {
  for (const c of citations) state.citations.set(c.n, c);
  const list = $("source-list");
  list.replaceChildren(
    ...citations.map((c) =>
      el("li", {},
        el("button", {
          type: "button", class: "source", "data-testid": "source-item", "data-n": c.n, onclick: () => openPassage(c.n),
        },
        el("span", { class: "source-n" }, `[${c.n}]`),
        el("span", { class: "source-body" },
          el("span", { class: "source-location" }, c.location),
          el("span", { class: "source-excerpt" }, c.excerpt)))),
    ),
  );
  show($("sources"), citations.length > 0);
}

function showError(error) {
  setCard("error", "Something went wrong");
  const text = $("answer-text");
  text.setAttribute("aria-busy", "false");
  const nodes = [el("p", { class: "error-text", "data-testid": "error-text" }, error.message)];
  if (state.draft.trim()) nodes.push(el("p", { class: "partial" }, el("strong", {}, "Partial answer: "), state.draft));
  text.replaceChildren(...nodes);
  if (error.code) text.prepend(el("p", { class: "error-code" }, `${error.code}${error.status ? ` (${error.status})` : ""}`));
}

function showStopped() {
  setCard("stopped", "Stopped");
  const text = $("answer-text");
  text.setAttribute("aria-busy", "false");
  text.querySelector(".cursor")?.remove();
  if (!state.draft.trim()) text.replaceChildren(el("p", { class: "placeholder" }, "Stopped before any answer."));
}

function setAsking(asking) {
  $("ask-button").disabled = asking;
  show($("stop-button"), asking);
  $("answer-card").setAttribute("aria-busy", asking ? "true" : "false");
}

async function ask(question) {
  const controller = new AbortController();
  state.controller?.abort();
  state.controller = controller;
  resetAnswer(question);
  setAsking(true);
  let settled = false;
  try {
    const response = await fetch("v1/ask", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ question, where: whereList(), stream: true }),
      signal: controller.signal,
    });
    if (!response.ok) throw await problemOf(response);
    for await (const { event, data } of sseEvents(response.body)) {
      if (state.controller !== controller) return; // a newer question took over the card
      if (event === "token") appendDraft(data.text ?? "");
      else if (event === "answer") { showAnswer(data); settled = true; }
      else if (event === "citations") showSources(data);
      else if (event === "error") { showError(new ApiError(data.status, data.error, data.detail)); settled = true; }
      else if (event === "done") onDone(data.trace_id);
    }
    if (!settled) throw new ApiError(0, "stream_ended", "the answer stream ended before the answer; try again");
  } catch (error) {
    if (state.controller !== controller) return;
    if (controller.signal.aborted) showStopped();
    else showError(error instanceof ApiError ? error : new ApiError(0, "network", `${error.message}`));
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      setAsking(false);
    }
  }
}

function onDone(traceId) {
  if (!traceId) return;
  state.traceId = traceId;
  $("trace-id").textContent = traceId;
  $("answer-card").dataset.traceId = traceId;
  show($("answer-foot"), true);
  setFeedbackEnabled(true);
  if (activeTab() === "trace") loadTrace(traceId);
  if (activeTab() === "recent") loadRecent();
}

// -- the passage panel ------------------------------------------------------

function openPassage(n) {
  const c = state.citations.get(n);
  if (!c) return;
  const chunk = c.chunk;
  $("passage-location").replaceChildren(el("span", { class: "source-n" }, `[${n}]`), " ", c.location);
  const facts = [
    ["Title", chunk.title], ["Source", chunk.source], ["Page", chunk.page ?? "—"],
    ["Section", chunk.section.length ? chunk.section.join(" › ") : "—"],
    ["Document", `${chunk.doc_id} @ ${chunk.doc_version}`], ["Chunk", chunk.chunk_id],
  ];
  $("passage-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
  $("passage-text").replaceChildren(...highlighted(chunk.text, c.excerpt));
  show($("source-empty"), false);
  show($("passage"), true);
  for (const b of document.querySelectorAll(".source, .cite")) {
    b.classList.toggle("selected", Number(b.dataset.n) === n);
  }
  selectTab("source");
  $("passage-text").querySelector("mark")?.scrollIntoView({ block: "nearest" });
}

/** The chunk text with the excerpt in a <mark>; whitespace differences are tolerated. */
function highlighted(text, excerpt) {
  const needle = (excerpt || "").trim();
  let start = needle ? text.indexOf(needle) : -1;
  let end = start + needle.length;
  if (needle && start < 0) {
    // Same words, different spacing: match on a whitespace-tolerant pattern.
    const words = needle.split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const found = new RegExp(words.join("\\s+")).exec(text);
    if (found) {
      start = found.index;
      end = start + found[0].length;
    }
  }
  if (start < 0) {
    return [el("p", { class: "excerpt-alone" }, el("mark", { "data-testid": "passage-excerpt" }, needle)),
            el("p", {}, text)];
  }
  return [text.slice(0, start), el("mark", { "data-testid": "passage-excerpt" }, text.slice(start, end)),
          text.slice(end)];
}

// -- feedback ---------------------------------------------------------------

function resetFeedback() {
  for (const id of ["thumbs-up", "thumbs-down"]) $(id).setAttribute("aria-pressed", "false");
  $("feedback-comment").value = "";
  $("feedback-status").textContent = "";
  $("feedback-status").dataset.state = "";
  setFeedbackEnabled(false);
}

function setFeedbackEnabled(enabled) {
  for (const id of ["thumbs-up", "thumbs-down", "feedback-comment"]) $(id).disabled = !enabled;
}

async function sendFeedback(rating) {
  if (!state.traceId) return;
  const status = $("feedback-status");
  const traceId = state.traceId;
  status.dataset.state = "sending";
  status.textContent = "Sending…";
  try {
    const saved = await api("v1/feedback", {
      method: "POST", body: { trace_id: traceId, rating, comment: $("feedback-comment").value.trim() },
    });
    if (state.traceId !== traceId) return; // a new question was asked meanwhile
    $("thumbs-up").setAttribute("aria-pressed", String(rating === "up"));
    $("thumbs-down").setAttribute("aria-pressed", String(rating === "down"));
    status.dataset.state = "recorded";
    status.dataset.rating = saved.rating;
    const verdict = saved.rating === "up" ? "useful" : "not useful";
    status.textContent = `Recorded: ${verdict}${saved.comment ? ", with your comment" : ""}. Thank you.`;
    if (activeTab() === "trace") loadTrace(traceId);
  } catch (error) {
    status.dataset.state = "error";
    status.textContent = `Not recorded: ${error.message}`;
  }
}

// -- traces -----------------------------------------------------------------

let shownTrace = null; // the trace id in the trace panel

async function loadTrace(traceId) {
  shownTrace = traceId;
  const view = $("trace-view");
  show($("trace-empty"), false);
  view.setAttribute("aria-busy", "true");
  try {
    const trace = await api(`v1/traces/${encodeURIComponent(traceId)}`);
    if (shownTrace === traceId) view.replaceChildren(...traceNodes(trace));
  } catch (error) {
    if (shownTrace === traceId) view.replaceChildren(el("p", { class: "error-text" }, `Could not load the trace: ${error.message}`));
  } finally {
    view.setAttribute("aria-busy", "false");
  }
}

async function loadRecent() {
  const status = $("recent-status");
  status.textContent = "Loading…";
  try {
    const page = await api(`v1/traces?limit=${RECENT_LIMIT}`);
    status.textContent = page.traces.length ? "" : "No requests yet.";
    $("recent-list").replaceChildren(...page.traces.map(recentItem));
  } catch (error) {
    status.textContent = `Could not list traces: ${error.message}`;
  }
}

function recentItem(t) {
  const rated = t.feedback.length ? t.feedback[t.feedback.length - 1].rating : null;
  return el("li", {},
    el("button", { type: "button", class: "recent-item", "data-testid": "recent-trace", "data-trace-id": t.trace_id,
                   onclick: () => { selectTab("trace"); loadTrace(t.trace_id); } },
      el("span", { class: "recent-top" },
        el("span", { class: "recent-route" }, t.route),
        el("span", { class: "meta-label" }, fmtTime(t.started_at)),
        el("span", { class: "recent-ms" }, fmtMs(t.latency_ms))),
      el("span", { class: "recent-query" }, t.query || "—"),
      el("span", { class: "badges" },
        t.status !== "ok" ? el("span", { class: `badge status-${t.status}` }, t.status) : null,
        t.abstained ? el("span", { class: "badge abstained" }, "I don't know") : null,
        rated ? el("span", { class: `badge rated-${rated}` }, rated === "up" ? "rated up" : "rated down") : null)));
}

// -- tabs -------------------------------------------------------------------

const TABS = ["source", "trace", "recent"];

function activeTab() {
  return TABS.find((name) => $(`tab-${name}`).getAttribute("aria-selected") === "true");
}

function selectTab(name, { focus = false } = {}) {
  for (const tab of TABS) {
    const selected = tab === name;
    const button = $(`tab-${tab}`);
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    show($(`panel-${tab}`), selected);
    if (selected && focus) button.focus();
  }
}

function onTab(name) {
  selectTab(name);
  if (name === "trace" && state.traceId && shownTrace !== state.traceId) loadTrace(state.traceId);
  else if (name === "trace" && shownTrace) loadTrace(shownTrace); // fresh feedback
  if (name === "recent") loadRecent();
}

// -- wiring -----------------------------------------------------------------

function init() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORE) ?? "";
  key.addEventListener("change", () => {
    const value = key.value.trim();
    if (value) localStorage.setItem(KEY_STORE, value);
    else localStorage.removeItem(KEY_STORE);
  });
  $("forget-key").addEventListener("click", () => {
    key.value = "";
    localStorage.removeItem(KEY_STORE);
  });
  const filters = $("filters");
  filters.value = sessionStorage.getItem(FILTER_STORE) ?? "";
  filters.addEventListener("change", () => sessionStorage.setItem(FILTER_STORE, filters.value));
  $("settings").addEventListener("submit", (e) => e.preventDefault());

  const question = $("question");
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = question.value.trim();
    if (text) ask(text);
  });
  question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("stop-button").addEventListener("click", () => {
    if (!state.controller) return;
    state.controller.abort();
    showStopped();
    state.controller = null;
    setAsking(false);
  });
  $("feedback-comment").addEventListener("keydown", (e) => {
    const pressed = [$("thumbs-up"), $("thumbs-down")].find((b) => b.getAttribute("aria-pressed") === "true");
    if (e.key === "Enter" && pressed) {
      e.preventDefault();
      sendFeedback(pressed.dataset.rating);
    }
  });

  for (const button of [$("thumbs-up"), $("thumbs-down")]) {
    button.addEventListener("click", () => sendFeedback(button.dataset.rating));
  }
  $("open-trace").addEventListener("click", () => {
    if (!state.traceId) return;
    selectTab("trace");
    loadTrace(state.traceId);
  });
  $("refresh-recent").addEventListener("click", loadRecent);

  for (const name of TABS) {
    $(`tab-${name}`).addEventListener("click", () => onTab(name));
    $(`tab-${name}`).addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = TABS[(TABS.indexOf(name) + step + TABS.length) % TABS.length];
      selectTab(next, { focus: true });
      onTab(next);
    });
  }
  setFeedbackEnabled(false);
  const linked = new URLSearchParams(location.hash.slice(1)).get("trace"); // ./#trace=<id>, from the Review page
  if (linked) {
    selectTab("trace");
    loadTrace(linked);
  }
  document.body.dataset.ready = "true";
}

init();

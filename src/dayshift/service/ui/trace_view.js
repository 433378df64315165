// dayshift web UI: a trace drawn as the trace panel shows it, and the debugger's views of it
// (detail: dayshift/trace/detail.py), as `dayshift traces show` prints them. Pure rendering:
// a trace's JSON in, DOM nodes out; nothing here fetches.

import { el, fmtMs, fmtTime, fmtUsd } from "./dom.js";

const STAGES = ["embed", "keyword", "dense", "fuse", "rerank", "select", "generate", "check"];

export function traceNodes(t) {
  const badges = [
    el("span", { class: `badge status-${t.status}` }, `${t.status} · ${t.http_status}`),
    t.abstained ? el("span", { class: "badge abstained" }, "I don't know") : null,
  ];
  const facts = [
    ["Route", t.route], ["Started", fmtTime(t.started_at)], ["Latency", fmtMs(t.latency_ms)],
    ["Model", t.model ?? "— (no model call)"], ["Prompt", t.prompt ?? "—"],
    ["Tokens", `${t.input_tokens} in · ${t.output_tokens} out`], ["Cost", fmtUsd(t.cost_usd)],
    ["Confidence", t.confidence === null ? "—" : t.confidence.toFixed(3)],
    ["Abstained", t.abstained === null ? "—" : t.abstained ? `yes: ${t.abstain_reason ?? ""}` : "no"],
    ["Retries", String(t.retries)], ["Tenant", t.tenant],
  ];
  const where = t.params?.where;
  if (Array.isArray(where) && where.length) facts.push(["Filters", where.join(", ")]);
  return [
    el("div", { class: "panel-bar" }, el("h2", { class: "panel-title" }, "Trace"), el("div", { class: "badges" }, badges)),
    el("p", { class: "trace-id" }, el("code", { "data-testid": "trace-view-id" }, t.trace_id)),
    t.query ? el("p", { class: "trace-query" }, el("span", { class: "meta-label" }, "Asked "), t.query) : null,
    el("h3", { class: "sub" }, "Stages"),
    stageBars(t.stages_ms, t.latency_ms),
    el("dl", { class: "facts", "data-testid": "trace-facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    ...traceDetailNodes(t),
    el("h3", { class: "sub" }, `Retrieved (${t.retrieved.length})`),
    t.detail?.retrieval?.chunks ? scoresTable(t.detail) : retrievedTable(t.retrieved),
    el("h3", { class: "sub" }, "Feedback"),
    feedbackList(t.feedback),
    t.errors.length ? el("h3", { class: "sub" }, "Errors") : null,
    t.errors.length ? el("ul", { class: "errors" }, t.errors.map((e) => el("li", {}, e))) : null,
  ];
}

// -- the debugger's views of a trace (detail: dayshift/trace/detail.py), as `dayshift traces show` prints them --

function num(value, digits = 3) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

function traceDetailNodes(t) {
  const d = t.detail;
  if (!d || !d.verdict) {
    return t.route === "/v1/search" ? [] : [el("p", { class: "empty", "data-testid": "trace-no-detail" },
      "This trace was written before dayshift recorded excerpts, prompts, drafts and support.")];
  }
  return [
    el("h3", { class: "sub" }, "Verdict"), verdictNode(t, d),
    el("h3", { class: "sub" }, `Excerpts sent (${d.sources.length})`), excerptList(d.sources),
    el("details", { class: "prompt-rendered", "data-testid": "trace-prompt" },
      el("summary", {}, d.messages.length ? "Prompt as rendered" : "Prompt: the model was not asked"),
      ...d.messages.map((m) => el("div", { class: "message" },
        el("span", { class: "meta-label" }, `[${m.role}]`), el("pre", {}, m.content ?? "(not stored)")))),
    d.messages.length ? el("h3", { class: "sub" }, "Draft") : null,
    d.messages.length ? el("p", { class: "draft", "data-testid": "trace-draft" }, d.draft || "(empty)") : null,
    d.support ? el("h3", { class: "sub" }, "Support") : null,
    d.support ? supportNode(d.support) : null,
  ];
}

function verdictNode(t, d) {
  const v = d.verdict;
  const why = !v.abstained
    ? `Released: confidence ${num(d.confidence)} ≥ threshold ${num(d.threshold)}.`
    : v.stage === "retrieval"
      ? `Abstained before generating: even with perfect support the confidence ${num(d.confidence)} is under the threshold ${num(d.threshold)}. ${v.reason}`
      : `Abstained after the support check: the draft was withdrawn; confidence ${num(d.confidence)} < threshold ${num(d.threshold)}. ${v.reason}`;
  const evidence = Object.entries(d.evidence ?? {});
  return el("div", { class: "verdict", "data-testid": "trace-verdict", "data-abstained": String(v.abstained) },
    el("p", {}, why),
    el("dl", { class: "facts" }, evidence.flatMap(([k, x]) => [el("dt", {}, k), el("dd", {}, num(x))])));
}

function excerptList(sources) {
  if (!sources.length) return el("p", { class: "empty" }, "None: no source was close enough.");
  return el("ol", { class: "excerpts", "data-testid": "trace-excerpts" }, sources.map((s) =>
    el("li", { value: String(s.n) }, el("code", {}, s.chunk_id), el("p", {}, s.text ?? "(not stored)"))));
}

function supportNode(support) {
  const sentences = Object.values(support).find((v) => Array.isArray(v) && v.length && typeof v[0] === "object" && "text" in v[0]);
  if (sentences) {
    const keys = Object.keys(sentences[0]).filter((k) => k !== "text");
    return el("table", { class: "retrieved", "data-testid": "trace-support" },
      el("thead", {}, el("tr", {}, ["sentence", ...keys].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, sentences.map((s) => el("tr", {}, el("td", {}, s.text ?? ""),
        ...keys.map((k) => el("td", { class: "num" }, typeof s[k] === "number" ? num(s[k]) : JSON.stringify(s[k])))))));
  }
  const best = support.best ? `[${support.best.n}] ${support.best.chunk_id}` : "—";
  const facts = [["Support", num(support.score)], ["Focus", num(support.focus)], ["Verbatim", String(support.verbatim)],
    ["Stands on", best], ["Unsupported terms", (support.unsupported_terms ?? []).join(", ") || "—"],
    ["Checked against", support.checked_against ?? "—"]];
  return el("dl", { class: "facts", "data-testid": "trace-support" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function scoresTable(d) {
  const r = d.retrieval;
  const sent = new Map(d.sources.map((s) => [s.chunk_id, s.n]));
  const cut = `mode ${r.mode ?? "?"}, ${r.fusion ?? "?"} fusion · cut-offs: keyword ${num(r.keyword_cutoff)}, dense ${num(r.dense_cutoff)}, fused ${num(r.fused_cutoff)}`;
  return el("table", { class: "retrieved", "data-testid": "trace-retrieved" },
    el("caption", {}, cut),
    el("thead", {}, el("tr", {}, ["#", "chunk", "fused", "keyword (rank)", "dense (rank)", "sent"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, r.chunks.map((c) => el("tr", { "data-chunk-id": c.chunk_id },
      el("td", {}, String(c.rank)),
      el("td", {}, el("code", {}, c.chunk_id)),
      el("td", { class: "num" }, num(c.fused)),
      el("td", { class: "num" }, `${num(c.keyword)} (${c.keyword_rank ?? "—"})`),
      el("td", { class: "num" }, `${num(c.dense)} (${c.dense_rank ?? "—"})`),
      el("td", {}, sent.has(c.chunk_id) ? `[${sent.get(c.chunk_id)}]` : "")))));
}

function stageBars(stages, latencyMs) {
  const names = [...STAGES.filter((s) => s in stages), ...Object.keys(stages).filter((s) => !STAGES.includes(s))];
  if (!names.length) return el("p", { class: "empty" }, "No stage timings were recorded.");
  const total = Math.max(latencyMs, ...names.map((s) => stages[s]), 0.001);
  return el("ul", { class: "stages", "data-testid": "stage-bars", "aria-label": `Stage timings; total ${fmtMs(latencyMs)}` },
    names.map((name) => {
      const bar = el("span", { class: "bar-fill" });
      bar.style.width = `${Math.max(0.5, (stages[name] / total) * 100).toFixed(2)}%`;
      return el("li", { class: "stage", "data-testid": "stage-bar", "data-stage": name },
        el("span", { class: "stage-name" }, name),
        el("span", { class: "bar", "aria-hidden": "true" }, bar),
        el("span", { class: "stage-ms" }, fmtMs(stages[name])));
    }));
}

function retrievedTable(rows) {
  if (!rows.length) return el("p", { class: "empty" }, "Nothing was retrieved.");
  return el("table", { class: "retrieved", "data-testid": "trace-retrieved" },
    el("thead", {}, el("tr", {}, ["#", "chunk", "document @ version", "score"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {},
      el("td", {}, String(r.rank)),
      el("td", {}, el("code", {}, r.chunk_id)),
      el("td", {}, el("code", {}, `${r.doc_id} @ ${r.doc_version.slice(0, 12)}`)),
      el("td", { class: "num" }, r.score.toFixed(4))))));
}

function feedbackList(items) {
  if (!items.length) return el("p", { class: "empty", "data-testid": "trace-feedback" }, "None yet.");
  return el("ul", { class: "feedback-list", "data-testid": "trace-feedback" }, items.map((f) =>
    el("li", { "data-rating": f.rating },
      el("span", { class: "rating" }, f.rating === "up" ? "▲ up" : "▼ down"),
      f.comment ? el("span", { class: "comment" }, f.comment) : null,
      el("span", { class: "meta-label" }, fmtTime(f.created_at)))));
}


// dayshift web UI, the Agent page: run a task, watch each step arrive, then read the run's timeline from its trace.
//
//   POST v1/agent {task, tools?, max_steps?, stream: true} -> text/event-stream:
//        step {n, tool, arguments, result, status, ...}* -> result AgentResult -> done {trace_id}
//     or step* -> error {error, status, detail} -> done
//   GET v1/traces/{id} -> detail.agent.spans: the timeline (also agent.html?trace=ID for a stored run)
//
// Every piece of server text enters the page through textContent, never innerHTML. The API key is the one
// the Ask page keeps in this browser.
//
// Left out: editing the task's budgets beyond max steps, and comparing two runs.

const KEY_STORE = "dayshift.apiKey";
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function setStatus(text, state) {
  $("agent-status").textContent = text;
  $("agent-status").dataset.state = state;
}

const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

/** One step (a live `step` event, or a span of the stored trace) as a row of the timeline. */
function stepRow(span, totalMs) {
  const model = span.model_ms ?? 0;
  const tool = span.tool_ms ?? 0;
  const start = span.start_ms ?? Math.max(0, (span.started_ms ?? 0) - model);
  const pct = (v) => `${Math.max(0, Math.min(100, (100 * v) / Math.max(totalMs, 1))).toFixed(2)}%`;
  const track = el("div", { class: "span-track", "aria-hidden": "true" },
    el("span", { class: "span-bar model", style: `left:${pct(start)};width:${pct(model)}` }),
    el("span", { class: "span-bar tool", style: `left:${pct(start + model)};width:${pct(tool)}` }));
  const text = (v) => (v && typeof v === "object" ? v.text ?? "" : v ?? "");
  const error = text(span.error);
  const name = span.name ?? span.tool ?? "(reply)";
  return el("li", { "data-status": span.status, "data-testid": "agent-step" },
    el("div", {},
      el("div", { class: "span-name" }, `${span.n}. ${name}`),
      el("span", { class: "span-status", "data-testid": "agent-step-status" }, span.status)),
    el("div", {},
      track,
      el("div", { class: "span-meta" },
        `model ${fmtMs(model)} · tool ${fmtMs(tool)} · ${span.input_tokens ?? 0}+${span.output_tokens ?? 0} tokens` +
        ` · $${(span.cost_usd ?? 0).toFixed(6)}` + ((span.evidence ?? []).length ? ` · ${span.evidence.join(", ")}` : "")),
      el("div", { class: "span-args", "data-testid": "agent-step-args" }, text(span.arguments)),
      el("div", { class: "span-result", "data-testid": "agent-step-result" }, error || text(span.result))));
}

function drawTimeline(spans) {
  const total = Math.max(1, ...spans.map((s) => (s.start_ms ?? 0) + (s.duration_ms ?? 0)));
  $("timeline").replaceChildren(...spans.map((s) => stepRow(s, total)));
  $("timeline").dataset.source = "trace";
}

function showResult(result, traceId) {
  $("result").hidden = false;
  $("answer").textContent = result.answer || "(no answer)";
  $("citations").replaceChildren(...(result.citations ?? []).map((c) =>
    el("li", { "data-testid": "agent-citation" }, `[${c.id}] ${c.kind}: ${typeof c.label === "object" ? c.label.text : c.label}`)));
  $("stop").textContent = result.stop_reason === "answer" ? "" : `Stopped: ${result.stop_reason}. ${result.partial ?? result.stop_detail ?? ""}`;
  const u = result.usage ?? {};
  $("usage").textContent = ` · ${u.steps ?? 0} model calls, ${u.tokens ?? 0} tokens, ${(u.seconds ?? 0).toFixed(1)} s`;
  if (traceId) $("trace-id").textContent = traceId;
}

async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      yield { event, data: data.length ? JSON.parse(data.join("\n")) : null };
    }
  }
}

async function loadTrace(traceId) {
  let response;
  for (let tries = 0; tries < 5; tries += 1) { // the trace may still be on its way to the database
    response = await fetch(`v1/traces/${encodeURIComponent(traceId)}`, { headers: headers() });
    if (response.status !== 404) break;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(`${response.status}: ${body.detail ?? response.statusText}`);
  }
  const trace = await response.json();
  const agent = trace.detail?.agent;
  if (!agent) throw new Error("that trace is not an agent run");
  drawTimeline(agent.spans ?? []);
  return trace;
}

let controller = null;

async function run(event) {
  event.preventDefault();
  const task = $("task").value.trim();
  if (!task) return;
  controller?.abort();
  controller = new AbortController();
  const body = { task, stream: true };
  const tools = $("tools").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (tools.length) body.tools = tools;
  if ($("max-steps").value) body.max_steps = Number($("max-steps").value);
  $("timeline").replaceChildren();
  delete $("timeline").dataset.source;
  $("result").hidden = true;
  $("stop-button").hidden = false;
  setStatus("Running…", "running");
  const live = [];
  try {
    const response = await fetch("v1/agent", {
      method: "POST", body: JSON.stringify(body), signal: controller.signal,
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(`${response.status}: ${problem.detail ?? response.statusText}`);
    }
    let result = null;
    for await (const { event: name, data } of sseEvents(response.body)) {
      if (name === "step") {
        live.push(data);
        const total = Math.max(1, ...live.map((s) => s.started_ms + s.tool_ms));
        $("timeline").replaceChildren(...live.map((s) => stepRow(s, total)));
        setStatus(`Running… step ${data.n}: ${data.tool ?? "(reply)"}`, "running");
      } else if (name === "result") {
        result = data;
      } else if (name === "error") {
        throw new Error(`${data.status}: ${data.detail}`);
      } else if (name === "done") {
        if (result) showResult(result, data.trace_id);
        setStatus("Done. The timeline below is read back from the run's trace.", "done");
        await loadTrace(data.trace_id);
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") setStatus(error.message, "error");
    else setStatus("Stopped.", "error");
  } finally {
    $("stop-button").hidden = true;
  }
}

function init() {
  $("agent-form").addEventListener("submit", run);
  $("task").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("agent-form").requestSubmit(); }
  });
  $("stop-button").addEventListener("click", () => controller?.abort());
  const traceId = new URLSearchParams(location.search).get("trace");
  if (traceId) {
    loadTrace(traceId).then((trace) => {
      setStatus("A stored run, read from its trace.", "done");
      showResult({ answer: trace.answer, citations: trace.detail.agent.citations, stop_reason: trace.detail.agent.stop_reason,
                   stop_detail: trace.detail.agent.stop_detail, usage: trace.detail.agent.usage }, trace.trace_id);
    }).catch((e) => setStatus(e.message, "error"));
  }
  document.body.dataset.ready = "true";
}

init();

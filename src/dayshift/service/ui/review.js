// dayshift web UI, the Review page: label eval cases, above all the candidates harvested from traces.
//
// Plain ES module, no dependencies, no build step; it talks only to this server, with the API key the Ask
// page keeps. Every piece of server text enters the page through textContent or text nodes.
//
//   GET v1/evals/datasets                      -> the dataset picker, with counts
//   GET v1/evals/cases?dataset=&status=&tag=   -> the list
//   PATCH v1/evals/cases/{dataset}/{id}        <- accept / reject / save the form's fields
//   POST v1/evals/harvest {since}              -> new candidates in harvested.jsonl
//   a harvested case links to its trace on the Ask page (./#trace=<id>)
//
// Left out: adding or deleting cases and datasets (the CLI and a text editor do that), and keyboard shortcuts.

const KEY_STORE = "dayshift.apiKey";
const DATASET_STORE = "dayshift.review.dataset";
const PAGE = 500;

const $ = (id) => document.getElementById(id);

/** A new element; props: class, text, data-*, aria-*, on<event>; children: nodes or strings (as text). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const fmtTime = (iso) => {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? String(iso) : when.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
};
const lines = (text) => [...new Set(text.split("\n").map((s) => s.trim()).filter(Boolean))];
const commaList = (text) => [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];

// -- talking to the server --------------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  const key = localStorage.getItem(KEY_STORE);
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    const hint = response.status === 401 || response.status === 403 ? " Enter the admin key at the top." : "";
    throw new Error(`${response.status}: ${problem.detail ?? response.statusText}.${hint}`);
  }
  return response.json();
}

function setMessage(text, state = "") {
  const message = $("review-status");
  message.textContent = text;
  message.dataset.state = state;
  message.hidden = !text;
}

// -- datasets and the list ----------------------------------------------------

const state = { cases: [], selected: null }; // selected: the case shown in the form

async function loadDatasets(prefer) {
  const found = await api("v1/evals/datasets");
  const picker = $("dataset");
  const wanted = prefer ?? picker.value;
  picker.replaceChildren(...found.datasets.map((d) => el("option", { value: d.name },
    d.error ? `${d.name} (unreadable)` : `${d.name} (${d.by_status.candidate ?? 0} to review of ${d.cases})`)));
  const names = found.datasets.map((d) => d.name);
  const remembered = localStorage.getItem(DATASET_STORE);
  picker.value = [wanted, remembered, names[0]].find((n) => n && names.includes(n)) ?? "";
  if (!names.length) setMessage(`No dataset in ${found.eval_dir} yet: harvest traces, or run \`dayshift eval import\`.`);
  return names.length > 0;
}

async function loadCases({ keep } = {}) {
  const dataset = $("dataset").value;
  if (!dataset) {
    state.cases = [];
    renderList();
    return;
  }
  localStorage.setItem(DATASET_STORE, dataset);
  const params = new URLSearchParams({ dataset, limit: String(PAGE) });
  if ($("status").value) params.set("status", $("status").value);
  if ($("tag").value.trim()) params.set("tag", $("tag").value.trim());
  setMessage("Loading…", "loading");
  try {
    const page = await api(`v1/evals/cases?${params}`);
    state.cases = page.cases;
    $("case-count").textContent = page.total > page.cases.length ? `${page.cases.length} of ${page.total}` : `${page.total}`;
    setMessage(page.total ? "" : "No case matches these filters.", "loaded");
  } catch (error) {
    state.cases = [];
    setMessage(`Could not list the cases: ${error.message}`, "error");
  }
  renderList();
  const again = keep && state.cases.find((c) => c.id === keep);
  if (again) select(again);
  else if (!state.cases.some((c) => c.id === state.selected?.id)) clearForm();
}

function renderList() {
  $("case-list").replaceChildren(...state.cases.map((c) => el("li", {},
    el("button", {
      type: "button", class: "case-item", "data-testid": "case-item", "data-case-id": c.id,
      "data-status": c.status, "aria-current": c.id === state.selected?.id ? "true" : false, onclick: () => select(c),
    },
    el("span", { class: "case-item-question" }, c.question),
    el("span", { class: "badges" }, badges(c))))));
}

function badges(c) {
  return [
    el("span", { class: `badge case-${c.status}`, "data-testid": "case-status" }, c.status),
    el("span", { class: "badge" }, c.answerable ? "answerable" : "unanswerable"),
    c.origin?.reason ? el("span", { class: "badge reason" }, c.origin.reason.replace("-", " ")) : null,
    ...c.tags.filter((t) => t !== "harvested" && t !== c.origin?.reason).slice(0, 3)
      .map((t) => el("span", { class: "badge" }, t)),
  ];
}

// -- one case -------------------------------------------------------------------

function select(c) {
  if (state.selected?.id !== c.id) $("case-form").parentElement.scrollTop = 0; // a new case reads from its question
  state.selected = c;
  for (const item of document.querySelectorAll(".case-item")) {
    if (item.dataset.caseId === c.id) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }
  $("case-badges").replaceChildren(...badges(c));
  $("case-id").textContent = `${c.dataset} / ${c.id}`;
  $("case-question").textContent = c.question;
  $("origin").replaceChildren(...originNodes(c).filter(Boolean));
  $("answerable").checked = c.answerable;
  $("answers").value = c.expected_answers.join("\n");
  $("sources").value = c.expected_sources.join("\n");
  $("tags").value = c.tags.join(", ");
  $("note").value = c.note;
  onAnswerable();
  $("save-status").textContent = "";
  $("save-status").dataset.state = "";
  $("detail-empty").hidden = true;
  $("case-form").hidden = false;
  $("case-form").dataset.caseId = c.id;
}

function clearForm() {
  state.selected = null;
  $("case-form").hidden = true;
  $("detail-empty").hidden = false;
}

/** Where the case came from: a harvested trace (with a link to it), or the data set it was imported from. */
function originNodes(c) {
  const o = c.origin ?? {};
  if (!o.trace_id) {
    const facts = Object.entries(o).filter(([, v]) => v !== null && typeof v !== "object");
    if (!facts.length) return [];
    return [el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]))];
  }
  const retrieved = Array.isArray(o.retrieved) ? o.retrieved : [];
  return [
    el("h3", { class: "sub" }, "From a trace"),
    el("dl", { class: "facts", "data-testid": "origin-facts" },
      el("dt", {}, "Why"), el("dd", {}, String(o.reason ?? "").replace("-", " ")),
      el("dt", {}, "Asked"), el("dd", {}, o.started_at ? fmtTime(o.started_at) : "—"),
      el("dt", {}, "Tenant"), el("dd", {}, o.tenant ?? "—"),
      el("dt", {}, "Comment"), el("dd", {}, o.comment || "—"),
      el("dt", {}, "Trace"), el("dd", {},
        el("a", { href: `./#trace=${encodeURIComponent(o.trace_id)}`, target: "_blank", rel: "noopener",
                  "data-testid": "origin-trace-link" }, o.trace_id))),
    el("h3", { class: "sub" }, "Answer shown"),
    el("p", { class: "origin-answer", "data-testid": "origin-answer" }, o.answer || "— (not stored)"),
    o.abstain_reason ? el("p", { class: "abstain-reason" }, `Abstained: ${o.abstain_reason}`) : null,
    retrieved.length ? el("h3", { class: "sub" }, "Retrieved documents (add one as an expected source)") : null,
    retrieved.length ? el("ul", { class: "retrieved-docs" }, retrieved.map((doc) => el("li", {},
      el("button", { type: "button", class: "quiet add-source", "data-testid": "add-source", onclick: () => addSource(doc) },
        "+ ", el("code", {}, doc))))) : null,
  ];
}

function addSource(doc) {
  const now = lines($("sources").value);
  if (!now.includes(doc)) $("sources").value = [...now, doc].join("\n");
}

function onAnswerable() {
  const answerable = $("answerable").checked;
  $("answers").disabled = !answerable;
  $("answers").placeholder = answerable ? "e.g. France" : "none: the documents do not answer it";
}

async function save(status) {
  const c = state.selected;
  if (!c) return;
  const answerable = $("answerable").checked;
  const body = {
    answerable, expected_answers: answerable ? lines($("answers").value) : [],
    expected_sources: lines($("sources").value), tags: commaList($("tags").value), note: $("note").value,
  };
  if (status) body.status = status;
  const message = $("save-status");
  message.dataset.state = "saving";
  message.textContent = "Saving…";
  try {
    const saved = await api(`v1/evals/cases/${encodeURIComponent(c.dataset)}/${encodeURIComponent(c.id)}`,
      { method: "PATCH", body });
    const at = state.cases.findIndex((x) => x.id === saved.id);
    if (at >= 0) state.cases[at] = saved;
    renderList();
    const next = status ? state.cases.slice(at + 1).find((x) => x.status === "candidate") : null;
    select(next ?? saved);
    message.dataset.state = "saved";
    message.dataset.caseId = saved.id;
    message.textContent = status ? `${saved.id}: ${saved.status}.` : `${saved.id}: saved.`;
    loadDatasets(c.dataset).catch(() => {}); // fresh counts in the picker; the list stays as it is
  } catch (error) {
    message.dataset.state = "error";
    message.textContent = `Not saved: ${error.message}`;
  }
}

async function harvestTraces() {
  const button = $("harvest");
  button.disabled = true;
  setMessage("Harvesting…", "loading");
  try {
    const done = await api("v1/evals/harvest", { method: "POST", body: { since: $("since").value } });
    await loadDatasets(done.dataset);
    $("status").value = "candidate";
    await loadCases();
    const known = done.known ? `, ${done.known} already there` : "";
    setMessage(`Harvested ${done.added} new candidate${done.added === 1 ? "" : "s"} from ${done.scanned} traces` +
               ` (${done.candidates} with negative feedback or an abstention${known}).`, "harvested");
  } catch (error) {
    setMessage(`Could not harvest: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// -- wiring -----------------------------------------------------------------

async function init() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORE) ?? "";
  key.addEventListener("change", () => {
    if (key.value.trim()) localStorage.setItem(KEY_STORE, key.value.trim());
    else localStorage.removeItem(KEY_STORE);
    start();
  });
  $("review-form").addEventListener("submit", (e) => e.preventDefault());
  for (const id of ["dataset", "status"]) $(id).addEventListener("change", () => loadCases());
  $("tag").addEventListener("change", () => loadCases());
  $("refresh").addEventListener("click", () => start());
  $("harvest").addEventListener("click", harvestTraces);
  $("answerable").addEventListener("change", onAnswerable);
  $("case-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save(null);
  });
  $("accept").addEventListener("click", () => save("accepted"));
  $("reject").addEventListener("click", () => save("rejected"));
  await start();
  document.body.dataset.ready = "true";
}

async function start() {
  try {
    if (await loadDatasets()) await loadCases({ keep: state.selected?.id });
  } catch (error) {
    setMessage(`Could not list the datasets: ${error.message}`, "error");
  }
}

init();

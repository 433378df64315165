// dayshift web UI, the Monitor page: the morning report of GET v1/monitor/report, refreshed every 5 minutes.
//
// The report is a whole HTML page built by the server (dayshift/monitor/report_html.py, every value escaped).
// It is fetched with the API key the Ask page keeps, and shown through `srcdoc` in a frame sandboxed
// without scripts, so nothing in it can run or reach this page. Error bodies enter as text only.
//
// Left out: choosing a tenant (the report covers all of them) and a custom start time (the CLI takes one).

const KEY_STORE = "dayshift.apiKey";
const REFRESH_MS = 5 * 60 * 1000;
const $ = (id) => document.getElementById(id);

function setStatus(text, state) {
  const status = $("monitor-status");
  status.textContent = text;
  status.dataset.state = state;
  status.hidden = !text;
}

async function load() {
  const since = $("since").value;
  const key = localStorage.getItem(KEY_STORE);
  const frame = $("report-frame");
  setStatus("Loading the report…", "loading");
  let response;
  try {
    response = await fetch(`v1/monitor/report?since=${encodeURIComponent(since)}`, {
      headers: key ? { Authorization: `Bearer ${key}`, Accept: "text/html" } : { Accept: "text/html" },
    });
  } catch (exc) {
    setStatus(`The server did not answer: ${exc.message}`, "error");
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const hint = response.status === 401 || response.status === 403 ? " Set the admin key on the Ask page." : "";
    setStatus(`${response.status}: ${body.detail ?? response.statusText}.${hint}`, "error");
    frame.hidden = true;
    return;
  }
  frame.srcdoc = await response.text();
  frame.hidden = false;
  frame.dataset.since = since;
  setStatus("", "loaded");
}

function init() {
  const wanted = new URLSearchParams(location.search).get("since");
  if (wanted && [...$("since").options].some((o) => o.value === wanted)) $("since").value = wanted;
  $("monitor-form").addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  $("since").addEventListener("change", load);
  setInterval(load, REFRESH_MS);
  document.body.dataset.ready = "true";
  load();
}

init();

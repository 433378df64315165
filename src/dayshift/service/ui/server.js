// dayshift web UI: talking to this server. Paths are relative, so the UI works behind a path prefix.
//
//   api(path, {method, body})  -> the JSON body, or throws ApiError(status, code, detail) from a Problem
//   sseEvents(body)            -> {event, data} for each server-sent event of a fetch body
//   authHeaders(extra)         -> extra plus Authorization when an API key is saved in this browser

export const KEY_STORE = "dayshift.apiKey";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

export function authHeaders(extra = {}) {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

export async function problemOf(response) {
  let code = "http_error";
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    code = body.error ?? code;
    detail = body.detail ?? detail;
  } catch {
    // not a Problem body; keep the status line
  }
  if (response.status === 401) detail = `${detail} (enter an API key at the top of the page)`;
  return new ApiError(response.status, code, detail);
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = authHeaders(body === undefined ? {} : { "Content-Type": "application/json" });
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

/** Server-sent events from a fetch body: yields {event, data} with data parsed as JSON. */
export async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const event = parseEvent(block);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const raw of block.split(/\r?\n/)) {
    if (!raw || raw.startsWith(":")) continue;
    const colon = raw.indexOf(":");
    const field = colon < 0 ? raw : raw.slice(0, colon);
    let value = colon < 0 ? "" : raw.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}


// The console's only door to the server: the REST API under /v1 with the user's bearer token.
const TOKEN_KEY = "pipeline-console-token";

/** Keep a token passed as `#token=…` (then drop it from the address bar). */
export function takeTokenFromFragment() {
  const match = location.hash.match(/[#&]token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (value) => sessionStorage.setItem(TOKEN_KEY, value.trim());
export const signOut = () => sessionStorage.removeItem(TOKEN_KEY);

/** The token's claims, read only to decide what to show (the server decides what is allowed). */
export function claims() {
  try {
    const part = token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return { sub: "?", roles: [], tenants: [] };
  }
}

export function can(role) {
  const roles = claims().roles || [];
  return roles.includes("admin") || roles.includes(role) || (role === "viewer" && roles.length > 0);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

export async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/v1${path}`, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

/**
 * Follow an SSE stream (fetch, so the token goes in a header), calling onEvent({id, type, data})
 * per message; resolves when the server ends the stream or `signal` aborts it.
 */
export async function followEvents(path, afterId, onEvent, signal) {
  const query = afterId == null ? "" : `?after_id=${afterId}`;
  const response = await fetch(`/v1${path}${query}`, {
    headers: headers({ Accept: "text/event-stream" }),
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const message = { id: null, type: "message", data: "" };
      for (const line of buffer.slice(0, end).split("\n")) {
        const [field, ...rest] = line.split(":");
        const text = rest.join(":").replace(/^ /, "");
        if (field === "id") message.id = Number(text);
        else if (field === "event") message.type = text;
        else if (field === "data") message.data += text;
      }
      buffer = buffer.slice(end + 2);
      if (message.data) onEvent({ ...message, data: JSON.parse(message.data) });
    }
  }
}

// The REST client. The browser sends the session cookie itself (same origin, HttpOnly): no
// token is ever held by this code. Failures carry the hub's error shape
// {"error": {"code", "message", ...}} as a HubError.

export class HubError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "http_error";
    this.details = error || {};
  }

  /** A sentence for people: a denial says what it takes. */
  describe() {
    if (this.code === "forbidden" && this.details.required) {
      return `Refused: ${this.message}`;
    }
    return this.message;
  }
}

async function request(method, path, body) {
  // X-Hub-Client: the audit records these requests' source as the dashboard (docs/api.md).
  const init = {method, credentials: "same-origin",
    headers: {Accept: "application/json", "X-Hub-Client": "dashboard"}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new HubError(0, {code: "offline", message: "The hub is not reachable."});
  }
  const data = response.headers.get("Content-Type")?.startsWith("application/json")
    ? await response.json() : null;
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("hub-unauthenticated"));
    throw new HubError(response.status, data?.error);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body = {}) => request("POST", path, body),
  del: (path) => request("DELETE", path),
};

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

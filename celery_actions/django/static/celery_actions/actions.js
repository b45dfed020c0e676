// celery-actions browser client: enqueue background actions and follow them.
// An ES module, no build step: import it from <prefix>/static/actions.js (or Django's
// static files: celery_actions/actions.js). Types: actions.d.ts.
//
//   import { enqueue } from "/actions/static/actions.js";
//   const handle = await enqueue("place_order", { productId: 7 }, { priority: "high" });
//   handle.subscribe((status) => console.log(status.status));
//   const receipt = await handle.result();

const FINAL = new Set(["complete", "failed", "cancelled"]);

/** An action that failed for good, or was cancelled (result() rejects with it). */
export class ActionError extends Error {
  constructor(message, { type = "Error", status = "failed", id = "", httpStatus = 0 } = {}) {
    super(message);
    this.name = "ActionError";
    this.type = type;
    this.status = status;
    this.id = id;
    this.httpStatus = httpStatus;
  }
}

function csrfToken(doc) {
  const cookie = doc?.cookie ?? "";
  const found = cookie.split(/;\s*/).find((part) => part.startsWith("csrftoken="));
  return found ? decodeURIComponent(found.slice("csrftoken=".length)) : "";
}

/** A client for the browser API mounted at `baseUrl` (default "/actions"). */
export class ActionsClient {
  constructor({ baseUrl = "/actions", fetch: fetchImpl, csrfToken: token, longPollSeconds = 25 } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.csrfToken = token ?? (() => csrfToken(globalThis.document));
    this.longPollSeconds = longPollSeconds;
  }

  async request(method, path, body, signal) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      const token = typeof this.csrfToken === "function" ? this.csrfToken() : this.csrfToken;
      if (token) headers["X-CSRFToken"] = token;
    }
    const response = await this.fetch(`${this.baseUrl}/api${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new ActionError(data.error ?? `HTTP ${response.status}`, {
        type: response.status === 429 ? "TooManyRequests" : "RequestError",
        status: "error",
        httpStatus: response.status,
      });
    }
    return data;
  }

  /** Enqueue `action` with `params` and Gadget's `options`; resolves to a handle. */
  async enqueue(action, params = {}, options = {}) {
    const found = await this.request("POST", `/enqueue/${encodeURIComponent(action)}`, { params, options });
    return new ActionHandle(this, found.id, found.action ?? action, found);
  }

  /** Enqueue one action per params object; resolves to their handles (ids <id>-0, ...). */
  async enqueueMany(action, paramsList, options = {}) {
    const found = await this.request("POST", `/enqueue-many/${encodeURIComponent(action)}`, { params: paramsList, options });
    return found.actions.map((a) => new ActionHandle(this, a.id, found.action, a));
  }

  /** A handle on an action enqueued earlier by this browser (its identity). */
  handle(id, action = "") {
    return new ActionHandle(this, id, action);
  }
}

/** One enqueued action: its status, its result, cancelling it, following it. */
export class ActionHandle {
  constructor(client, id, action = "", last = null) {
    this.client = client;
    this.id = id;
    this.action = action;
    this.last = last;
  }

  path(suffix = "") {
    return `/actions/${encodeURIComponent(this.id)}${suffix}`;
  }

  /** The current status ({id, action, status, finished, reason, attempts, ...}). */
  async status() {
    this.last = await this.client.request("GET", this.path());
    return this.last;
  }

  /** Cancel it; resolves to true if it was cancelled (a running action is not interrupted). */
  async cancel() {
    const found = await this.client.request("POST", this.path("/cancel"), {});
    this.last = found;
    return found.cancelled;
  }

  /** Wait for the outcome (long-polling): the return value, or rejects with ActionError. */
  async result({ signal } = {}) {
    const aborted = () => new ActionError("aborted", { type: "AbortError", status: "aborted", id: this.id });
    for (;;) {
      if (signal?.aborted) throw aborted();
      let found;
      try {
        found = await this.client.request("GET", this.path(`/result?wait=${this.client.longPollSeconds}`), undefined, signal);
      } catch (error) {
        if (signal?.aborted) throw aborted(); // the long-poll in flight was cut
        throw error;
      }
      this.last = found;
      if (found.finished) return outcome(found);
    }
  }

  /** Call `callback(status)` at each change until it finishes (last call: finished true,
   * with result or error). Returns a function that stops following. */
  subscribe(callback) {
    let stopped = false;
    const controller = new AbortController();
    const run = async () => {
      let seen = null;
      while (!stopped) {
        const wait = seen === null ? "" : `?wait=${this.client.longPollSeconds}&since=${encodeURIComponent(seen)}`;
        const found = await this.client.request("GET", this.path(`/result${wait}`), undefined, controller.signal);
        if (stopped) return;
        if (found.status !== seen || found.finished) {
          seen = found.status;
          this.last = found;
          callback(found);
        }
        if (found.finished) return;
      }
    };
    run().catch((error) => { if (!stopped) callback({ id: this.id, status: "error", finished: true, error: { type: "RequestError", message: String(error.message ?? error) } }); });
    return () => { stopped = true; controller.abort(); };
  }
}

function outcome(found) {
  if (found.status === "complete") return found.result;
  if (found.status === "cancelled") throw new ActionError(`action ${found.id} was cancelled`, { type: "ActionCancelled", status: "cancelled", id: found.id });
  throw new ActionError(found.error?.message ?? "failed", { type: found.error?.type ?? "Error", status: "failed", id: found.id });
}

export function isFinished(status) {
  return FINAL.has(status);
}

let defaultClient = null;

/** The client every top-level function uses (configure it once: configure({baseUrl})). */
export function configure(options) {
  defaultClient = new ActionsClient(options);
  return defaultClient;
}

function client() {
  return defaultClient ?? configure({});
}

export const enqueue = (action, params, options) => client().enqueue(action, params, options);
export const enqueueMany = (action, paramsList, options) => client().enqueueMany(action, paramsList, options);
export const handle = (id, action) => client().handle(id, action);

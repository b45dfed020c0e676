// node --test for the browser client (actions.js) and its React hooks (react.js), against
// a local HTTP server that speaks the browser API (celery_actions/django/openapi.json):
// the client's own logic: CSRF header, URLs, long-polls, subscribe, errors, hooks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const shipped = join(here, "..", "..", "celery_actions", "django", "static", "celery_actions");
// the shipped files, copied beside node_modules so that "react" resolves (a peer import)
const copy = mkdtempSync(join(here, "shipped-"));
for (const name of ["actions.js", "react.js"]) cpSync(join(shipped, name), join(copy, name));
const { ActionsClient, ActionError, configure, enqueue } = await import(join(copy, "actions.js"));
const { useEnqueue, useActionResult } = await import(join(copy, "react.js"));
const React = (await import("react")).default;
const TestRenderer = (await import("react-test-renderer")).default;

// The API: each action advances waiting -> running -> its end, one step per long-poll.
const actions = new Map();
const seen = [];
let hanging = 0;
let server;
let base;

function reply(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

function view(a) {
  const out = { id: a.id, action: a.action, status: a.steps[a.at], finished: ["complete", "failed", "cancelled"].includes(a.steps[a.at]) };
  if (out.status === "complete") out.result = a.result;
  if (out.status === "failed") out.error = { type: "ValueError", message: "no" };
  return out;
}

before(async () => {
  server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url, "http://x");
    seen.push({ method: req.method, path: url.pathname + url.search, csrf: req.headers["x-csrftoken"], body });
    let m;
    if (req.method === "POST" && (m = url.pathname.match(/^\/actions\/api\/enqueue(-many)?\/(.+)$/))) {
      if (req.headers["x-csrftoken"] !== "tok") return reply(res, 403, { error: "CSRF check failed" });
      const { params, options } = JSON.parse(body);
      if (m[2] === "busy") return reply(res, 429, { error: "too many enqueues", retry_after: 1 });
      const make = (p, i) => {
        const id = options?.id ? `${options.id}${m[1] ? `-${i}` : ""}` : `id${actions.size}`;
        const steps = p.fail ? ["waiting", "running", "failed"] : ["waiting", "running", "complete"];
        const a = { id, action: m[2], steps, at: 0, result: { echoed: p } };
        actions.set(id, a);
        return view(a);
      };
      if (m[1]) return reply(res, 202, { action: m[2], actions: params.map(make) });
      return reply(res, 202, make(params, 0));
    }
    if (url.pathname === "/actions/api/actions/hang/result" && url.searchParams.get("wait")) {
      hanging += 1; // a long-poll that never answers: only the client can end it
      res.on("close", () => { hanging -= 1; });
      return undefined;
    }
    if ((m = url.pathname.match(/^\/actions\/api\/actions\/([^/]+)(\/result|\/cancel)?$/))) {
      const a = actions.get(decodeURIComponent(m[1]));
      if (!a) return reply(res, 404, { error: "no such action" });
      if (m[2] === "/cancel") { a.steps = ["cancelled"]; a.at = 0; return reply(res, 200, { ...view(a), cancelled: true }); }
      if (m[2] === "/result" && url.searchParams.get("wait")) a.at = Math.min(a.at + 1, a.steps.length - 1);
      return reply(res, 200, view(a));
    }
    reply(res, 404, { error: "not found" });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/actions`;
  configure({ baseUrl: base, csrfToken: "tok", longPollSeconds: 1 });
});

after(() => {
  server.close();
  rmSync(copy, { recursive: true, force: true });
});

test("enqueue posts params and options with the CSRF token, and result() long-polls", async () => {
  const handle = await enqueue("greet", { name: "Ann" }, { priority: "high" });
  const posted = seen.findLast((r) => r.method === "POST");
  assert.equal(posted.path, "/actions/api/enqueue/greet");
  assert.equal(posted.csrf, "tok");
  assert.deepEqual(JSON.parse(posted.body), { params: { name: "Ann" }, options: { priority: "high" } });
  assert.equal(handle.last.status, "waiting");
  assert.deepEqual(await handle.result(), { echoed: { name: "Ann" } });
  assert.ok(seen.some((r) => r.path === `/actions/api/actions/${handle.id}/result?wait=1`));
});

test("a failed action rejects result() with its error type and message", async () => {
  const handle = await enqueue("greet", { fail: true });
  await assert.rejects(handle.result(), (e) => e instanceof ActionError && e.type === "ValueError" && e.message === "no" && e.status === "failed");
});

test("subscribe reports each status once, in order, until it finishes", async () => {
  const handle = await enqueue("greet", { name: "S" });
  const statuses = await new Promise((resolve) => {
    const got = [];
    handle.subscribe((s) => { got.push(s.status); if (s.finished) resolve(got); });
  });
  assert.deepEqual(statuses, ["waiting", "running", "complete"]);
  assert.ok(seen.some((r) => r.path.includes(`/result?wait=1&since=waiting`)));
});

test("cancel, status and an unknown id", async () => {
  const handle = await enqueue("greet", { name: "C" });
  assert.equal(await handle.cancel(), true);
  assert.equal((await handle.status()).status, "cancelled");
  await assert.rejects(handle.result(), (e) => e.type === "ActionCancelled");
  const client = new ActionsClient({ baseUrl: base, csrfToken: "tok" });
  await assert.rejects(client.handle("nope").status(), (e) => e.httpStatus === 404 && e.message === "no such action");
});

test("enqueueMany gives a handle per item; errors carry the HTTP status", async () => {
  const handles = await new ActionsClient({ baseUrl: base, csrfToken: "tok" }).enqueueMany("greet", [{ a: 1 }, { a: 2 }], { id: "batch" });
  assert.deepEqual(handles.map((h) => h.id), ["batch-0", "batch-1"]);
  const client = new ActionsClient({ baseUrl: base, csrfToken: "tok" });
  await assert.rejects(client.enqueue("busy", {}), (e) => e.httpStatus === 429 && e.type === "TooManyRequests");
  const noToken = new ActionsClient({ baseUrl: base, csrfToken: "" });
  await assert.rejects(noToken.enqueue("greet", {}), (e) => e.httpStatus === 403);
});

async function eventually(check) {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail("condition never held");
}

test("an abort signal cuts result()'s long-poll in flight, and stopping subscribe does too", async () => {
  const client = new ActionsClient({ baseUrl: base, csrfToken: "tok" });
  const controller = new AbortController();
  const waiting = client.handle("hang").result({ signal: controller.signal });
  await eventually(() => hanging === 1);
  controller.abort();
  await assert.rejects(waiting, (e) => e instanceof ActionError && e.type === "AbortError");
  await eventually(() => hanging === 0);
  // subscribe: the first (plain) read answers, the long-poll after it hangs until stopped
  actions.set("hang", { id: "hang", action: "greet", steps: ["waiting"], at: 0 });
  const calls = [];
  const stop = client.handle("hang").subscribe((s) => calls.push(s.status));
  await eventually(() => hanging === 1);
  stop();
  await eventually(() => hanging === 0);
  assert.deepEqual(calls, ["waiting"]);
});

function render(hook) {
  const out = { current: null };
  function Probe() { out.current = hook(); return null; }
  let renderer;
  TestRenderer.act(() => { renderer = TestRenderer.create(React.createElement(Probe)); });
  return { out, unmount: () => TestRenderer.act(() => renderer.unmount()) };
}

async function until(check) {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await TestRenderer.act(() => new Promise((r) => setTimeout(r, 10)));
  }
  assert.fail("condition never held");
}

test("useEnqueue: [{fetching, error, handle}, enqueue], as Gadget's hook", async () => {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  const { out, unmount } = render(() => useEnqueue("greet", { priority: "low" }));
  assert.deepEqual({ ...out.current[0] }, { fetching: false, error: null, handle: null, handles: null });
  let pending;
  TestRenderer.act(() => { pending = out.current[1]({ name: "H" }); });
  assert.equal(out.current[0].fetching, true);
  const handle = await TestRenderer.act(() => pending);
  assert.equal(out.current[0].fetching, false);
  assert.equal(out.current[0].handle.id, handle.id);
  assert.deepEqual(JSON.parse(seen.findLast((r) => r.method === "POST").body).options, { priority: "low" });
  unmount();
});

test("useActionResult follows a handle live to its result", async () => {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  const handle = await enqueue("greet", { name: "R" });
  const { out, unmount } = render(() => useActionResult(handle));
  await until(() => out.current.finished);
  assert.equal(out.current.status, "complete");
  assert.deepEqual(out.current.result, { echoed: { name: "R" } });
  assert.equal(out.current.fetching, false);
  unmount();
});

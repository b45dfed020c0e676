// React hooks for the celery-actions browser client (React is a peer import, not bundled:
// map "react" in your import map or bundler).
//
//   const [{ fetching, error, handle }, enqueue] = useEnqueue("place_order", { priority: "high" });
//   const { status, result, error, finished } = useActionResult(handle);
import { useCallback, useEffect, useRef, useState } from "react";
import { enqueue as enqueueOne, enqueueMany, handle as handleOf } from "./actions.js";

/** Gadget's useEnqueue: [{fetching, error, handle | handles}, enqueue(params, options)].
 * With {bulk: true} in baseOptions, enqueue takes a list of params and gives handles. */
export function useEnqueue(action, baseOptions = {}) {
  const { bulk = false, client = null, ...base } = baseOptions;
  const [state, setState] = useState({ fetching: false, error: null, handle: null, handles: null });
  const mounted = useRef(true);
  useEffect(() => () => { mounted.current = false; }, []);
  const run = useCallback(async (params, options = {}) => {
    setState((s) => ({ ...s, fetching: true, error: null }));
    try {
      const merged = { ...base, ...options };
      const found = bulk
        ? await (client ? client.enqueueMany(action, params, merged) : enqueueMany(action, params, merged))
        : await (client ? client.enqueue(action, params, merged) : enqueueOne(action, params, merged));
      if (mounted.current) {
        setState(bulk ? { fetching: false, error: null, handle: null, handles: found } : { fetching: false, error: null, handle: found, handles: null });
      }
      return found;
    } catch (error) {
      if (mounted.current) setState((s) => ({ ...s, fetching: false, error }));
      return undefined;
    }
  }, [action, bulk, client, JSON.stringify(base)]);
  return [state, run];
}

/** Live status of a handle (or an id): {status, finished, result, error, fetching}. */
export function useActionResult(handleOrId) {
  const [state, setState] = useState({ status: null, finished: false, result: undefined, error: null, fetching: Boolean(handleOrId) });
  useEffect(() => {
    if (!handleOrId) return undefined;
    const h = typeof handleOrId === "string" ? handleOf(handleOrId) : handleOrId;
    setState((s) => ({ ...s, fetching: true }));
    return h.subscribe((found) => {
      setState({
        status: found.status,
        finished: Boolean(found.finished),
        result: found.result,
        error: found.error ?? null,
        fetching: !found.finished,
      });
    });
  }, [typeof handleOrId === "string" ? handleOrId : handleOrId?.id]);
  return state;
}

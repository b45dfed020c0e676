// Types of react.js (hooks over actions.js; React is a peer dependency).
import type { ActionError, ActionHandle, ActionStatusName, ActionsClient, EnqueueOptions } from "./actions.js";

export interface EnqueueState<Result = unknown> {
  fetching: boolean;
  error: ActionError | Error | null;
  handle: ActionHandle<Result> | null;
  handles: ActionHandle<Result>[] | null;
}

export interface BaseOptions extends EnqueueOptions {
  bulk?: boolean;
  client?: ActionsClient;
}

export function useEnqueue<Result = unknown>(
  action: string,
  baseOptions?: BaseOptions,
): [EnqueueState<Result>, (params: Record<string, unknown> | Record<string, unknown>[], options?: EnqueueOptions) => Promise<ActionHandle<Result> | ActionHandle<Result>[] | undefined>];

export interface ActionResultState<Result = unknown> {
  status: ActionStatusName | "error" | null;
  finished: boolean;
  result: Result | undefined;
  error: { type: string; message: string } | null;
  fetching: boolean;
}

export function useActionResult<Result = unknown>(handleOrId: ActionHandle<Result> | string | null | undefined): ActionResultState<Result>;

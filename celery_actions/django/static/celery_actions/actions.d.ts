// Types of actions.js (the celery-actions browser client).

export type ActionStatusName = "held" | "scheduled" | "waiting" | "running" | "retrying" | "failed" | "complete" | "cancelled";

export interface ActionStatus {
  id: string;
  action?: string;
  status: ActionStatusName;
  finished: boolean;
  reason?: string;
  attempts?: number;
  createdAt?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  nextAttemptAt?: string | null;
  result?: unknown;
  error?: { type: string; message: string };
  cancelled?: boolean;
}

export interface RetryOptions {
  retryCount?: number;
  initialInterval?: number;
  maxInterval?: number;
  backoffFactor?: number;
  randomizeInterval?: boolean;
}

/** Gadget's option names; queue and retryFor are the server's to set. */
export interface EnqueueOptions {
  startAt?: string;
  priority?: "low" | "default" | "medium" | "high";
  retries?: number | RetryOptions;
  id?: string;
  onDuplicateID?: "error" | "ignore";
}

export interface ClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  csrfToken?: string | (() => string);
  longPollSeconds?: number;
}

export class ActionError extends Error {
  type: string;
  status: string;
  id: string;
  httpStatus: number;
}

export class ActionHandle<Result = unknown> {
  readonly id: string;
  readonly action: string;
  last: ActionStatus | null;
  status(): Promise<ActionStatus>;
  cancel(): Promise<boolean>;
  result(options?: { signal?: AbortSignal }): Promise<Result>;
  subscribe(callback: (status: ActionStatus) => void): () => void;
}

export class ActionsClient {
  constructor(options?: ClientOptions);
  enqueue<Result = unknown>(action: string, params?: Record<string, unknown>, options?: EnqueueOptions): Promise<ActionHandle<Result>>;
  enqueueMany<Result = unknown>(action: string, paramsList: Record<string, unknown>[], options?: EnqueueOptions): Promise<ActionHandle<Result>[]>;
  handle<Result = unknown>(id: string, action?: string): ActionHandle<Result>;
}

export function configure(options: ClientOptions): ActionsClient;
export function enqueue<Result = unknown>(action: string, params?: Record<string, unknown>, options?: EnqueueOptions): Promise<ActionHandle<Result>>;
export function enqueueMany<Result = unknown>(action: string, paramsList: Record<string, unknown>[], options?: EnqueueOptions): Promise<ActionHandle<Result>[]>;
export function handle<Result = unknown>(id: string, action?: string): ActionHandle<Result>;
export function isFinished(status: string): boolean;

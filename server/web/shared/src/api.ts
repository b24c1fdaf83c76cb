/** Fetch helpers for the web apps: JSON in, JSON out, and failures that say what to do next. */
import type { ApiProblem } from './api-types.ts';

/** A failure whose message and next step are written for the person using the app. */
export class ActionError extends Error {
  readonly next?: string;
  constructor(message: string, next?: string) {
    super(message);
    this.next = next;
  }
}

export class ApiError extends ActionError {
  readonly status: number;
  constructor(message: string, status: number, next?: string) {
    super(message, next);
    this.status = status;
  }
}

let bearer: string | undefined;
let onUnauthorized: (() => void) | undefined;

export function setBearer(token: string | undefined, whenRejected?: () => void): void {
  bearer = token;
  onUnauthorized = whenRejected;
}

function problemOf(status: number, body: unknown): ApiError {
  const b = body as Partial<ApiProblem> & { issue?: Array<{ diagnostics?: string }> } | undefined;
  const text = b?.error ?? b?.issue?.[0]?.diagnostics ?? `The server answered ${status}.`;
  const next = b?.next ?? (status === 401 ? 'Sign in again.' : status >= 500 ? 'Wait a moment and try again; if it keeps failing, the node operator can check the server log.' : undefined);
  return new ApiError(text, status, next);
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; accept?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  } catch {
    throw new ApiError('The server could not be reached.', 0, 'Check your connection, then try again.');
  }
  const text = await response.text();
  let body: unknown;
  try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized?.();
    throw problemOf(response.status, body);
  }
  return body as T;
}

export function describeError(err: unknown): { text: string; next?: string } {
  if (err instanceof ActionError) return { text: err.message, next: err.next };
  const e = err as { code?: number; message?: string } | undefined;
  if (e?.code === 4001) return { text: 'You declined the request in your wallet.', next: 'Nothing was changed. Try again when you are ready.' };
  return { text: e?.message ?? String(err), next: 'Try again; if it keeps failing, reload the page.' };
}

/**
 * Cancelling a running statement when the search that issued it is aborted (the caller gave up,
 * the source deadline passed). The adapter runs its queries inside `withStatementSignal`; the
 * drivers' connections run each statement through `runCancellable`, which, on abort, asks the
 * database to stop that statement (PostgreSQL `pg_cancel_backend` and MariaDB/MySQL `KILL QUERY`
 * from a separate short-lived connection; SQLite: the connection's child process is killed with
 * its statement, and the connection starts a new one on its next use) and settles only once that
 * cancel request has finished, so the connection goes back to the pool free of the statement and
 * the cancel never hits the connection's next one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` with its statements cancelled when `signal` aborts. */
export function withStatementSignal<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  return current.run(signal, work);
}

/** The abort signal of the statement about to run, if any. */
function statementSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Runs one statement; if its signal aborts meanwhile, `cancel` is sent and awaited before the result settles. */
export async function runCancellable<T>(run: () => Promise<T>, cancel: () => Promise<void>): Promise<T> {
  const signal = statementSignal();
  if (!signal) return run();
  signal.throwIfAborted();
  let cancelling: Promise<void> | undefined;
  const onAbort = (): void => {
    cancelling = cancel().catch(() => undefined);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await run();
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (cancelling) await cancelling;
  }
}

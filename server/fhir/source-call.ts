/**
 * One call to one source under a deadline: the request's own abort (client gone) or the
 * per-source timeout, whichever comes first. Failures are classified for warning entries.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { sourceIssue } from './outcomes.ts';
import type { FederatedSource } from './source-directory.ts';

export type SourceResult<T> = { ok: true; value: T } | { ok: false; issue: OperationOutcomeIssue };

export async function callSource<T>(
  source: FederatedSource,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<SourceResult<T>> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    // Race the call against the signal so an adapter that ignores aborts cannot hold the search.
    const value = await new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(combined.reason);
      if (combined.aborted) return onAbort();
      combined.addEventListener('abort', onAbort, { once: true });
      call(combined).then(
        (v) => (combined.removeEventListener('abort', onAbort), resolve(v)),
        (e: unknown) => (combined.removeEventListener('abort', onAbort), reject(e)),
      );
    });
    return { ok: true, value };
  } catch (err) {
    // Bad client input reaching an adapter is the client's error, not the source's.
    if (err instanceof OperationOutcomeError) throw err;
    if (timeout.aborted) {
      return { ok: false, issue: sourceIssue('timeout', source.sourceId, `${source.name} did not answer within ${timeoutMs} ms; its records are missing from this result`) };
    }
    return { ok: false, issue: sourceIssue('exception', source.sourceId, `${source.name} could not be queried; its records are missing from this result`) };
  }
}

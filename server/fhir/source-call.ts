/**
 * One call to one source under a deadline: the request's own abort (client gone) or the
 * per-source timeout, whichever comes first. Failures are classified for warning entries.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { SourceCannotEvaluateError } from '../../adapters/ehr-adapter.ts';
import { sourceIssue } from './outcomes.ts';
import type { FederatedSource } from './source-directory.ts';

export type SourceResult<T> = { ok: true; value: T } | { ok: false; issue: OperationOutcomeIssue };

export async function callSource<T>(
  source: FederatedSource,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<SourceResult<T>> {
  // One controller and one timer per call: cheaper than AbortSignal.timeout + AbortSignal.any on hot paths.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // A TimeoutError, so adapters can tell a missed deadline (the source's fault) from a client gone away.
    controller.abort(new DOMException(`source ${source.sourceId} timed out`, 'TimeoutError'));
  }, timeoutMs);
  const onRequestAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onRequestAbort();
  else signal?.addEventListener('abort', onRequestAbort, { once: true });
  const combined = controller.signal;
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
    source.onCall?.('ok');
    return { ok: true, value };
  } catch (err) {
    // Bad client input reaching an adapter is the client's error, not the source's.
    if (err instanceof OperationOutcomeError) throw err;
    if (err instanceof SourceCannotEvaluateError) {
      return { ok: false, issue: sourceIssue('not-supported', source.sourceId, `${source.name} cannot evaluate ${err.what}; its records are not in this result`) };
    }
    if (timedOut) {
      source.onCall?.('timeout');
      return { ok: false, issue: sourceIssue('timeout', source.sourceId, `${source.name} did not answer within ${timeoutMs} ms; its records are missing from this result`) };
    }
    // A client that went away says nothing about the source.
    if (!signal?.aborted) source.onCall?.('error');
    return { ok: false, issue: sourceIssue('exception', source.sourceId, `${source.name} could not be queried; its records are missing from this result`) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onRequestAbort);
  }
}

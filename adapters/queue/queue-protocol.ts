/**
 * What a server and an adapter worker exchange over a source's queue. A job is named after its
 * operation and carries only `{ sealed }`; its id is a random UUID. The worker writes the result
 * to the job's own result key and completes the job with nothing: the events stream every
 * server reads stays small, and only the waiting server fetches (and deletes) the result. Calls,
 * results and the published capabilities are sealed (sealed-payload.ts) in the places named here.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { SourceCannotEvaluateError, SourceUnavailableError, type SourceQuery } from '../ehr-adapter.ts';

/** `expiresAt`: the call's deadline in Redis time (redis-clock.ts), the same at both ends. */
export type QueueCall =
  | { readonly op: 'search'; readonly query: SourceQuery; readonly expiresAt: number }
  | { readonly op: 'read'; readonly resourceType: string; readonly id: string; readonly expiresAt: number }
  | { readonly op: 'health'; readonly expiresAt: number };

export type QueueOp = QueueCall['op'];

/**
 * Adapter failures travel sealed inside a completed job (a job's failure text sits in Redis in
 * clear). An unavailable source crosses as its kind alone: an upstream's error text can quote
 * URLs with patient ids, and the server would log it; the worker's log keeps what it can say.
 */
export type QueueFailure =
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'cannot-evaluate'; readonly what: string }
  | { readonly kind: 'bad-request'; readonly outcome: OperationOutcome }
  /** The call's deadline passed before a worker took it (nobody waits for it any more). */
  | { readonly kind: 'expired' };

export type QueueResult = { readonly ok: true; readonly value?: unknown } | { readonly ok: false; readonly failure: QueueFailure };

export interface QueueJobData {
  readonly sealed: string;
}

export const callPlace = (sourceId: string, jobId: string): string => `medrec-adapter-queue|${sourceId}|${jobId}|call`;
export const resultPlace = (sourceId: string, jobId: string): string => `medrec-adapter-queue|${sourceId}|${jobId}|result`;
export const capabilitiesPlace = (sourceId: string): string => `medrec-adapter-queue|${sourceId}|capabilities`;

/** Where the worker publishes the adapter's capabilities (sealed) beside the queue's own keys. */
export const capabilitiesKey = (prefix: string, queueName: string): string => `${prefix}:${queueName}:medrec-capabilities`;

/** Where the worker leaves a job's result (sealed) for the server that waits for it. */
export const resultKey = (prefix: string, queueName: string, jobId: string): string => `${prefix}:${queueName}:medrec-result:${jobId}`;

/** How long a result outlives its call's deadline: room for the completion to reach the waiting server. */
export const RESULT_GRACE_MS = 5_000;

export function failureOf(error: unknown): QueueFailure {
  if (error instanceof SourceCannotEvaluateError) return { kind: 'cannot-evaluate', what: error.what };
  if (error instanceof OperationOutcomeError) return { kind: 'bad-request', outcome: error.outcome };
  return { kind: 'unavailable' };
}

/** The error the adapter threw at the worker, as the server's planner knows it. */
export function errorOf(sourceId: string, failure: QueueFailure): Error {
  switch (failure.kind) {
    case 'cannot-evaluate':
      return new SourceCannotEvaluateError(sourceId, failure.what);
    case 'bad-request':
      return new OperationOutcomeError(failure.outcome);
    case 'expired':
      return new SourceUnavailableError(sourceId, 'the adapter worker took the call after its deadline');
    case 'unavailable':
      return new SourceUnavailableError(sourceId, 'the adapter failed at the worker (its log says how)');
  }
}

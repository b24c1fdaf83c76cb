/** OperationOutcome helpers used across the FHIR layer (no PHI in any message). */
import { forbidden, getStatus, notFound, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** A warning issue for a source that failed, timed out or was left out of a search. */
export function sourceIssue(code: 'timeout' | 'incomplete' | 'not-supported' | 'exception', sourceId: string, text: string): OperationOutcomeIssue {
  return { severity: 'warning', code, details: { text }, diagnostics: `source=${sourceId}` };
}

/** An OperationOutcomeError with an explicit HTTP status (for statuses getStatus cannot infer, e.g. 503). */
export class FhirHttpError extends OperationOutcomeError {
  readonly status: number;
  constructor(status: number, issues: OperationOutcomeIssue[]) {
    super(outcome(issues));
    this.status = status;
  }
}

/** 403, 404 (where existence itself would leak) or 503 (permissions not fresh: fail closed). */
export function accessDenied(status: 403 | 404 | 503, reason: string): OperationOutcomeError {
  if (status === 503) return new FhirHttpError(503, [{ severity: 'error', code: 'transient', details: { text: reason } }]);
  const base = status === 403 ? forbidden : notFound;
  return new OperationOutcomeError({ ...base, issue: [{ severity: 'error', code: status === 403 ? 'forbidden' : 'not-found', details: { text: reason } }] });
}

/**
 * The HTTP status an error is answered with (the error handler's rule): an OperationOutcome's own
 * status below 500, Fastify's client errors as they are, anything else 500.
 */
export function answeredStatus(error: unknown): number {
  if (error instanceof FhirHttpError) return error.status;
  if (error instanceof OperationOutcomeError) {
    const status = getStatus(error.outcome);
    if (status < 500) return status;
  }
  const statusCode = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 ? statusCode : 500;
}

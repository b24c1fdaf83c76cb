/**
 * Every error as an OperationOutcome with the right status. Client errors say what was wrong;
 * anything unexpected is a 500 whose only detail is an opaque id (the request id) that is in
 * the log together with the error. Stack traces never reach a response.
 */
import fp from 'fastify-plugin';
import { OperationOutcomeError } from '@medplum/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { answeredStatus, FhirHttpError } from '../fhir/outcomes.ts';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function issueCode(status: number): string {
  if (status === 401) return 'login';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 406 || status === 415) return 'not-supported';
  if (status === 413) return 'too-long';
  if (status === 429) return 'throttled';
  return status >= 500 ? 'exception' : 'invalid';
}

export function errorOutcome(status: number, text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: issueCode(status) as 'invalid', details: { text } }] };
}

export function sendOutcome(reply: FastifyReply, status: number, body: OperationOutcome): FastifyReply {
  return reply.code(status).type(FHIR_JSON).send(body);
}

function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = answeredStatus(error);
  if (error instanceof OperationOutcomeError && (status < 500 || error instanceof FhirHttpError)) return sendOutcome(reply, status, error.outcome);
  if (status < 500) {
    // Fastify's own client errors (body too large, bad media type, malformed body, schema).
    const text = status === 413 ? 'Request body is too large' : error.message;
    request.log.info({ code: (error as FastifyError).code, statusCode: status }, 'client error');
    return sendOutcome(reply, status, errorOutcome(status, text));
  }
  request.log.error({ err: error }, 'unexpected error');
  return sendOutcome(reply, 500, errorOutcome(500, `Internal error; quote id ${request.id} when reporting it`));
}

/** Installs the error and not-found handlers on the root instance (not encapsulated). */
export const errorHandling = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) =>
      sendOutcome(reply, 404, errorOutcome(404, `No route for ${request.method} ${request.url.split('?')[0]}`)),
    );
  },
  { name: 'medrec-errors', fastify: '5.x' },
);

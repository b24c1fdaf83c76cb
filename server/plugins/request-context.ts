/**
 * Request ids and the access-context decoration. The id comes from a well-formed
 * `X-Request-Id` header or is generated, is echoed back, and tags every log line.
 * `request.accessContext` is set by the SMART layer's onRequest hook; the FHIR layer reads it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { AccessContext } from '../access/access-context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking (undefined: no token was presented or no SMART layer is installed). */
    accessContext?: AccessContext;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** For Fastify's `genReqId` option. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

export const requestContext = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('accessContext', undefined);
    // Callback-style hook: cheaper than an async one on every request; the header set here
    // stays on whatever reply is sent, errors included.
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      done();
    });
  },
  { name: 'medrec-request-context', fastify: '5.x' },
);

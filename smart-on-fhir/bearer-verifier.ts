/**
 * The resource-server side: an `onRequest` hook for the FHIR base that turns `Authorization:
 * Bearer <jwt>` into `request.accessContext` or answers 401 with `WWW-Authenticate: Bearer` and an
 * OperationOutcome. Discovery (`metadata`, `.well-known/*`) stays open. Cost per request: a cached
 * signature check plus the grant-active check (in-process cache, one Redis lookup at most).
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { AccessContext } from '../server/access/access-context.ts';
import { accessContextOf, InvalidTokenError, type AccessTokenClaims, type TokenService } from './tokens.ts';

export interface BearerVerifierOptions {
  readonly tokens: TokenService;
  /** e.g. `/fhir` */
  readonly fhirBasePath: string;
  readonly realm: string;
  /** Further routes under the base that need no token (exact route paths, relative to the base: `/x`). */
  readonly openPaths?: readonly string[];
  /**
   * Requests without any Authorization header: `refuse` (401, the default) or `pass` without an
   * access context, leaving the decision to the access policy (an open-data server).
   */
  readonly anonymous?: 'refuse' | 'pass';
}

export function bearerVerifier(options: BearerVerifierOptions): onRequestAsyncHookHandler {
  const base = options.fhirBasePath.replace(/\/+$/, '');
  const open = new Set(['/metadata', ...(options.openPaths ?? [])]);
  const contexts = new WeakMap<AccessTokenClaims, AccessContext>();
  return async function verifyBearer(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    // Decide on the route the router matched, not on the raw URL: the router decodes the path,
    // so `/%66hir/Patient/1` reaches `/fhir/:type/:id` while its raw text lies outside the base.
    // Nothing matched (a 404 is coming): the raw path is all there is.
    const route = request.routeOptions.url;
    const q = request.url.indexOf('?');
    const path = route ?? (q < 0 ? request.url : request.url.slice(0, q));
    if (!(path === base || path.startsWith(`${base}/`))) return;
    if (request.method === 'OPTIONS') return;
    const rest = path.slice(base.length);
    if (open.has(rest) || rest.startsWith('/.well-known/')) return;

    const header = request.headers.authorization;
    if (header === undefined && options.anonymous === 'pass') return;
    if (!header || !/^bearer /i.test(header)) {
      return deny(reply, options.realm, undefined, 'An access token is required (Authorization: Bearer).');
    }
    try {
      const token = header.slice(7).trim();
      const claims = options.tokens.verifyCached(token) ?? (await options.tokens.verify(token));
      let context = contexts.get(claims);
      if (!context) {
        context = accessContextOf(claims);
        contexts.set(claims, context);
      }
      (request as FastifyRequest & { accessContext?: AccessContext }).accessContext = context;
    } catch (error) {
      if (error instanceof InvalidTokenError) return deny(reply, options.realm, 'invalid_token', error.message);
      // The grant store is unreachable: fail closed, and say it is temporary.
      request.log.warn({ err: error }, 'bearer token check failed: grant store unavailable');
      return reply
        .code(503)
        .header('retry-after', '5')
        .type('application/fhir+json')
        .send({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'Authorization is temporarily unavailable.' }] });
    }
  };
}

function deny(reply: FastifyReply, realm: string, error: string | undefined, description: string): FastifyReply {
  const challenge = `Bearer realm="${realm}"${error ? `, error="${error}", error_description="${description}"` : ''}`;
  return reply
    .code(401)
    .header('www-authenticate', challenge)
    .type('application/fhir+json')
    .send({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'login', diagnostics: description }],
    });
}

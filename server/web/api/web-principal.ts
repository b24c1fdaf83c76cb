/**
 * Who is calling a BFF route: the same SMART access token the FHIR API takes (the web apps are
 * SMART public clients), verified by the authorization server's token service.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface WebPrincipal {
  /** Lowercase address of the signed-in user. */
  readonly subject: string;
  readonly clientId: string;
  readonly scope: string;
}

/** Verifies a bearer token; throws (any error) when it is not acceptable. */
export type VerifyWebToken = (token: string) => Promise<WebPrincipal>;

declare module 'fastify' {
  interface FastifyRequest {
    webPrincipal?: WebPrincipal;
  }
}

export function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m?.[1];
}

/** An onRequest hook that sets `request.webPrincipal` or answers 401 with what to do next. */
export function requirePrincipal(verify: VerifyWebToken) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearerOf(request);
    if (!token) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'You are not signed in.', next: 'Sign in, then try again.' });
      return;
    }
    try {
      const principal = await verify(token);
      request.webPrincipal = { ...principal, subject: principal.subject.toLowerCase() };
    } catch {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'Your sign-in has expired or was revoked.', next: 'Sign in again.' });
    }
  };
}

export function principalOf(request: FastifyRequest): WebPrincipal {
  if (!request.webPrincipal) throw new Error('route registered without requirePrincipal');
  return request.webPrincipal;
}

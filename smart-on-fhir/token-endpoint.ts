/**
 * The back-channel endpoints: `token` (authorization_code, refresh_token, client_credentials),
 * `introspect` (RFC 7662), `revoke` (RFC 7009) and RFC 7591 registration of public apps.
 * Every answer carries `Cache-Control: no-store`; errors are RFC 6749 §5.2 JSON.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allowedForClient, type SmartClient } from './clients.ts';
import type { GrantRecord } from './grant-store.ts';
import { OAuthError } from './oauth-error.ts';
import { CODE_VERIFIER, s256 } from './pkce.ts';
import { narrowTo, parseScopes } from './scopes.ts';
import type { SmartContext } from './smart-context.ts';
import { InvalidTokenError } from './tokens.ts';

type Form = Record<string, string | undefined>;

/** RFC 7591 registrations one network address may make in an hour. */
const REGISTRATIONS_PER_HOUR = 20;

export function registerTokenRoutes(app: FastifyInstance, ctx: SmartContext): void {
  const formSchema = { type: 'object', additionalProperties: { type: 'string' } };
  const handle = (fn: (form: Form, req: FastifyRequest) => Promise<Record<string, unknown>>) => async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    try {
      if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
        throw new OAuthError('invalid_request', 'the request must be application/x-www-form-urlencoded');
      }
      return reply.send(await fn((req.body ?? {}) as Form, req));
    } catch (error) {
      if (error instanceof OAuthError) {
        if (error.code === 'invalid_client' && req.headers.authorization) reply.header('www-authenticate', 'Basic realm="token"');
        return reply.code(error.status).send(error.body());
      }
      throw error;
    }
  };
  const bodyLimit = 64 * 1024;

  app.post('/auth/token', { bodyLimit, schema: { body: formSchema } }, handle(async (form, req) => {
    switch (form.grant_type) {
      case 'authorization_code':
        return authorizationCode(ctx, form, req);
      case 'refresh_token':
        return refreshToken(ctx, form, req);
      case 'client_credentials':
        return clientCredentials(ctx, form, req);
      default:
        throw new OAuthError(form.grant_type ? 'unsupported_grant_type' : 'invalid_request', 'grant_type must be authorization_code, refresh_token or client_credentials');
    }
  }));

  app.post('/auth/introspect', { bodyLimit, schema: { body: formSchema } }, handle(async (form, req) => {
    const caller = await introspectionCaller(ctx, form, req);
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');
    const answer = await introspect(ctx, form.token, form.token_type_hint);
    // A SMART app's bearer token learns about its own client's tokens only (RFC 7662 §4: say inactive).
    return caller.anyToken || answer.client_id === caller.clientId ? answer : { active: false };
  }));

  app.post('/auth/revoke', { bodyLimit, schema: { body: formSchema } }, handle(async (form, req) => {
    const { client, authenticated } = await ctx.authenticator.authenticate(credentials(form, req));
    // RFC 7009 §2.1: a confidential client authenticates here as at the token endpoint.
    if (confidential(client) && !authenticated) throw new OAuthError('invalid_client', 'this client must authenticate');
    if (!form.token) throw new OAuthError('invalid_request', 'token is required');
    const grant = await grantOfToken(ctx, form.token);
    // RFC 7009 §2.2: an unknown or already invalid token is not an error.
    if (grant) {
      if (grant.clientId !== client.clientId) throw new OAuthError('unauthorized_client', 'the token was issued to another client');
      await ctx.store.revokeGrant(grant.id);
    }
    return {};
  }));

  if (ctx.options.dynamicRegistration !== false) {
    app.post(
      '/auth/register',
      {
        bodyLimit,
        schema: {
          body: {
            type: 'object',
            required: ['redirect_uris'],
            properties: {
              redirect_uris: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'string', maxLength: 500 } },
              client_name: { type: 'string', maxLength: 200 },
              token_endpoint_auth_method: { type: 'string' },
              scope: { type: 'string', maxLength: 4000 },
              launch_uri: { type: 'string', maxLength: 500 },
            },
          },
        },
      },
      async (req, reply) => {
        const body = req.body as { redirect_uris: string[]; client_name?: string; token_endpoint_auth_method?: string; scope?: string; launch_uri?: string };
        reply.header('cache-control', 'no-store');
        if (!(await ctx.store.allowRegistration(req.ip, REGISTRATIONS_PER_HOUR))) {
          return reply.code(429).header('retry-after', '3600').send({ error: 'temporarily_unavailable', error_description: `at most ${REGISTRATIONS_PER_HOUR} registrations an hour from one address` });
        }
        if (body.token_endpoint_auth_method && body.token_endpoint_auth_method !== 'none') {
          return reply.code(400).send({ error: 'invalid_client_metadata', error_description: 'only public clients (token_endpoint_auth_method none) may register themselves' });
        }
        const bad = body.redirect_uris.find((u) => !isSafeRedirect(u)) ?? (body.launch_uri && !isSafeRedirect(body.launch_uri) ? body.launch_uri : undefined);
        if (bad !== undefined) return reply.code(400).send({ error: 'invalid_redirect_uri', error_description: 'redirect URIs must be https, or http on a loopback host, without a fragment' });
        const scope = body.scope ? parseScopes(body.scope).accepted.filter((s) => !s.startsWith('system/')).join(' ') : undefined;
        const client = await ctx.clients.register({
          name: body.client_name ?? 'Unnamed app',
          redirectUris: body.redirect_uris,
          ...(body.launch_uri ? { launchUrl: body.launch_uri } : {}),
          ...(scope ? { allowedScope: scope } : {}),
        });
        return reply.code(201).send({
          client_id: client.clientId,
          client_id_issued_at: Math.floor(Date.now() / 1000),
          client_name: client.name,
          redirect_uris: client.redirectUris,
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          ...(scope ? { scope } : {}),
        });
      },
    );
  }
}

function credentials(form: Form, req: FastifyRequest) {
  return {
    authorization: req.headers.authorization,
    clientId: form.client_id,
    clientSecret: form.client_secret,
    clientAssertionType: form.client_assertion_type,
    clientAssertion: form.client_assertion,
  };
}

function confidential(client: SmartClient): boolean {
  return client.type !== 'public';
}

async function authorizationCode(ctx: SmartContext, form: Form, req: FastifyRequest): Promise<Record<string, unknown>> {
  if (!form.code) throw new OAuthError('invalid_request', 'code is required');
  if (!form.redirect_uri) throw new OAuthError('invalid_request', 'redirect_uri is required');
  const { client, authenticated } = await ctx.authenticator.authenticate(credentials(form, req));
  if (confidential(client) && !authenticated) throw new OAuthError('invalid_client', 'this client must authenticate');
  const { record, reusedGrant } = await ctx.store.redeemCode(form.code);
  if (!record) {
    if (reusedGrant) await ctx.store.revokeGrant(reusedGrant); // a replayed code kills what it bought
    throw new OAuthError('invalid_grant', 'the code is invalid, expired or already used');
  }
  if (record.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the code was issued to another client');
  if (record.redirectUri !== form.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorize request');
  if (record.codeChallenge) {
    const verifier = form.code_verifier;
    if (!verifier || !CODE_VERIFIER.test(verifier)) throw new OAuthError('invalid_grant', 'a valid code_verifier is required');
    if (s256(verifier) !== record.codeChallenge) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
  } else if (!client.pkceOptional) {
    throw new OAuthError('invalid_grant', 'PKCE is required');
  }
  const scopes = parseScopes(record.scope);
  const now = Math.floor(Date.now() / 1000);
  const refreshable = refreshKind(scopes);
  const horizon = refreshable === 'offline' ? ctx.lifetimes.offline : refreshable === 'online' ? ctx.lifetimes.online : ctx.lifetimes.access;
  const grant = await ctx.store.createGrant({
    clientId: client.clientId,
    subject: record.subject,
    scope: record.scope,
    ...(record.patient ? { patient: record.patient } : {}),
    ...(record.encounter ? { encounter: record.encounter } : {}),
    ...(record.fhirUser ? { fhirUser: record.fhirUser } : {}),
    kind: 'user',
    expiresAt: now + horizon,
    needPatientBanner: record.needPatientBanner,
  });
  await ctx.store.markCodeUsed(form.code, grant.id);
  const response = await tokenResponse(ctx, grant, refreshable !== undefined);
  if (scopes.context.has('openid') && (scopes.context.has('fhirUser') || scopes.context.has('profile')) && record.fhirUser) {
    response.id_token = await ctx.tokens.issueIdToken({
      clientId: client.clientId,
      subject: record.subject,
      fhirUser: record.fhirUser,
      ...(record.nonce ? { nonce: record.nonce } : {}),
      authTime: record.authTime,
    });
  }
  return response;
}

async function refreshToken(ctx: SmartContext, form: Form, req: FastifyRequest): Promise<Record<string, unknown>> {
  if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required');
  const creds = credentials(form, req);
  const named = creds.authorization || creds.clientId || creds.clientAssertion || creds.clientSecret;
  const caller = named ? await ctx.authenticator.authenticate(creds) : undefined;
  const grantId = await ctx.store.refreshTokenGrant(form.refresh_token);
  const existing = grantId ? await ctx.store.getGrant(grantId) : undefined;
  if (!existing) {
    const replayed = await ctx.store.usedRefreshTokenGrant(form.refresh_token);
    if (replayed) {
      // A rotated-out refresh token came back: someone holds a copy. End the grant for everyone.
      await ctx.store.revokeGrant(replayed);
      throw new OAuthError('invalid_grant', 'the refresh token was already used; the grant is revoked');
    }
    throw new OAuthError('invalid_grant', 'the refresh token is invalid, expired or revoked');
  }
  if (caller && caller.client.clientId !== existing.clientId) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
  const client = caller?.client ?? (await ctx.clients.get(existing.clientId));
  if (!client) throw new OAuthError('invalid_client', 'the client is no longer registered');
  // Symmetric clients always hold their secret; asymmetric fhirclient apps refresh without an assertion.
  if (client.type === 'confidential-symmetric' && !caller?.authenticated) throw new OAuthError('invalid_client', 'this client must authenticate');
  let scope = existing.scope;
  if (form.scope !== undefined) {
    // Unknown scopes are dropped, as everywhere; a known one the grant does not cover is an escalation.
    const asked = parseScopes(form.scope);
    const kept = narrowTo(parseScopes(existing.scope), asked);
    if (kept.length !== asked.accepted.length) throw new OAuthError('invalid_scope', 'a refresh may only keep or narrow the granted scopes');
    if (kept.length === 0) throw new OAuthError('invalid_scope', 'none of the requested scopes is known');
    scope = kept.join(' ');
  }
  const grant = await ctx.store.redeemRefreshToken(form.refresh_token);
  if (!grant) throw new OAuthError('invalid_grant', 'the refresh token was already used');
  const narrowed: GrantRecord = scope === grant.scope ? grant : await ctx.store.updateGrantScope(grant, scope);
  // Narrowing offline_access/online_access away ends the refresh chain here.
  return tokenResponse(ctx, narrowed, refreshKind(parseScopes(narrowed.scope)) !== undefined);
}

/** Which refresh a grant's scopes allow: offline (long-lived), online (while signed in) or none. */
function refreshKind(scopes: ReturnType<typeof parseScopes>): 'offline' | 'online' | undefined {
  return scopes.context.has('offline_access') ? 'offline' : scopes.context.has('online_access') ? 'online' : undefined;
}

async function clientCredentials(ctx: SmartContext, form: Form, req: FastifyRequest): Promise<Record<string, unknown>> {
  const creds = credentials(form, req);
  if (!creds.clientAssertion && !creds.clientAssertionType) throw new OAuthError('invalid_client', 'Backend Services clients authenticate with private_key_jwt');
  const { client } = await ctx.authenticator.authenticate(creds);
  if (client.type !== 'backend') throw new OAuthError('unauthorized_client', 'this client is not registered for client_credentials');
  if (!form.scope) throw new OAuthError('invalid_request', 'scope is required');
  const asked = parseScopes(form.scope);
  if (asked.resources.some((s) => s.level !== 'system') || asked.context.size > 0) {
    throw new OAuthError('invalid_scope', 'Backend Services grant system/ scopes only');
  }
  const granted = allowedForClient(client, asked.accepted);
  if (granted.length === 0) throw new OAuthError('invalid_scope', 'none of the requested scopes is registered for this client');
  if (!client.address) throw new OAuthError('unauthorized_client', 'the client has no participant address binding');
  const now = Math.floor(Date.now() / 1000);
  const grant = await ctx.store.createGrant({
    clientId: client.clientId,
    subject: client.address,
    scope: granted.join(' '),
    kind: 'backend',
    expiresAt: now + ctx.lifetimes.backend,
  });
  const { token, expiresIn } = await ctx.tokens.issueAccessToken(grant, ctx.lifetimes.backend);
  return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: grant.scope };
}

async function tokenResponse(ctx: SmartContext, grant: GrantRecord, refreshable: boolean): Promise<Record<string, unknown>> {
  const remaining = grant.expiresAt - Math.floor(Date.now() / 1000);
  const { token, expiresIn } = await ctx.tokens.issueAccessToken(grant, Math.max(1, Math.min(ctx.lifetimes.access, remaining)));
  const response: Record<string, unknown> = { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: grant.scope };
  if (refreshable) response.refresh_token = await ctx.store.issueRefreshToken(grant);
  return { ...response, ...launchContext(ctx, grant) };
}

/**
 * Introspection callers: an authenticated confidential client or a Backend Services (system)
 * token, e.g. a resource server, may introspect any token; a user's app with its bearer token
 * only its own client's tokens.
 */
async function introspectionCaller(ctx: SmartContext, form: Form, req: FastifyRequest): Promise<{ clientId: string; anyToken: boolean }> {
  const header = req.headers.authorization ?? '';
  if (/^bearer /i.test(header)) {
    let claims: Awaited<ReturnType<typeof ctx.tokens.verify>>;
    try {
      claims = await ctx.tokens.verify(header.slice(7).trim());
    } catch {
      throw new OAuthError('invalid_client', 'the bearer token is not valid', 401);
    }
    return { clientId: claims.client_id, anyToken: (await ctx.store.getGrant(claims.gid))?.kind === 'backend' };
  }
  const { client, authenticated } = await ctx.authenticator.authenticate(credentials(form, req));
  if (!authenticated) throw new OAuthError('invalid_client', 'introspection needs client authentication or a bearer token', 401);
  return { clientId: client.clientId, anyToken: true };
}

/** The launch context a user grant's token responses carry (SMART: introspection repeats it). */
function launchContext(ctx: SmartContext, grant: GrantRecord): Record<string, unknown> {
  if (grant.kind !== 'user') return {};
  return {
    ...(grant.patient ? { patient: grant.patient } : {}),
    ...(grant.encounter ? { encounter: grant.encounter } : {}),
    need_patient_banner: grant.needPatientBanner ?? true,
    smart_style_url: ctx.endpoints.smartStyle,
  };
}

async function introspect(ctx: SmartContext, token: string, hint: string | undefined): Promise<Record<string, unknown>> {
  if (hint !== 'refresh_token' && token.split('.').length === 3) {
    try {
      const claims = await ctx.tokens.verify(token);
      const grant = await ctx.store.getGrant(claims.gid);
      return {
        active: true,
        scope: claims.scope,
        client_id: claims.client_id,
        sub: claims.sub,
        iss: claims.iss,
        aud: claims.aud,
        exp: claims.exp,
        iat: claims.iat,
        jti: claims.jti,
        token_type: 'Bearer',
        ...(grant ? launchContext(ctx, grant) : {}),
        ...(claims.fhirUser ? { fhirUser: claims.fhirUser } : {}),
      };
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      return { active: false };
    }
  }
  const grantId = await ctx.store.refreshTokenGrant(token);
  const grant = grantId ? await ctx.store.getGrant(grantId) : undefined;
  if (!grant) return { active: false };
  return {
    active: true,
    scope: grant.scope,
    client_id: grant.clientId,
    sub: grant.subject,
    iss: ctx.endpoints.issuer,
    exp: grant.expiresAt,
    token_type: 'refresh_token',
    ...launchContext(ctx, grant),
    ...(grant.fhirUser ? { fhirUser: grant.fhirUser } : {}),
  };
}

/** The grant behind an access token (signature checked, expiry ignored) or a refresh token. */
async function grantOfToken(ctx: SmartContext, token: string): Promise<GrantRecord | undefined> {
  if (token.split('.').length === 3) {
    try {
      const claims = await ctx.tokens.verify(token);
      return ctx.store.getGrant(claims.gid);
    } catch {
      // Expired tokens may still be revoked: the grant they name lives on for refreshes.
      const gid = await ctx.tokens.grantIdIgnoringExpiry(token);
      return gid ? ctx.store.getGrant(gid) : undefined;
    }
  }
  const id = await ctx.store.refreshTokenGrant(token);
  return id ? ctx.store.getGrant(id) : undefined;
}

function isSafeRedirect(uri: string): boolean {
  if (!URL.canParse(uri)) return false;
  const url = new URL(uri);
  if (url.hash) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
}

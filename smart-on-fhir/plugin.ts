/**
 * The SMART on FHIR authorization server as one Fastify plugin: discovery, JWKS, authorize,
 * SIWE login, patient picker, consent, EHR launch, token, introspect, revoke, registration, and
 * the bearer-token hook on the FHIR base. Registered without encapsulation (its hook must see the
 * FHIR routes); `app.smartAuth` exposes the services (key rotation, the CapabilityStatement
 * security block). Closing the app closes its pub/sub connection.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { CapabilityContributor } from '../conformance/capability-statement.ts';
import type { PermissionSnapshot } from '../server/access/permission-snapshot.ts';
import { registerAuthorizeRoutes } from './authorize.ts';
import { bearerVerifier } from './bearer-verifier.ts';
import { ClientAuthenticator } from './client-authentication.ts';
import { ClientRegistry, type SmartClient } from './clients.ts';
import { capabilitySecurity, openidConfiguration, smartConfiguration, smartEndpoints, SMART_STYLE } from './discovery.ts';
import { GrantStore } from './grant-store.ts';
import { clientsPage } from './pages.ts';
import { fhirUserReference } from './participant-source.ts';
import { SigningKeys } from './signing-keys.ts';
import { SiweLogin } from './siwe-login.ts';
import type { ParticipantInfo, SmartAuthOptions, SmartAuthServices, SmartContext } from './smart-context.ts';
import { registerTokenRoutes } from './token-endpoint.ts';
import { TokenService } from './tokens.ts';

export type { SmartAuthOptions } from './smart-context.ts';

export interface SmartAuth extends SmartAuthServices {
  /** `CapabilityStatement.rest[0].security` for the FHIR layer's metadata. */
  capabilitySecurity(): Record<string, unknown>;
}

declare module 'fastify' {
  interface FastifyInstance {
    smartAuth: SmartAuth;
  }
}

/** The default when no snapshot provider is wired: a subject sees only their own records. */
export function selfOnlySnapshot(subject: string): Promise<PermissionSnapshot> {
  return Promise.resolve({
    subject,
    blockNumber: 0,
    entries: [{ patient: subject, providers: '*', resourceTypes: '*', actions: ['read', 'search'], purpose: 'any', notBefore: 0, expiresAt: 0, basis: 'self' }],
  });
}

const CLIENT_ORIGINS: Record<NonNullable<SmartClient['origin']>, string> = {
  config: 'configured',
  registration: 'self-registered (RFC 7591)',
  chain: 'on chain (participant directory)',
};

const plugin: FastifyPluginAsync<SmartAuthOptions> = async (app, options) => {
  const origin = new URL(options.publicUrl).origin;
  const fhirBasePath = (options.fhirBasePath ?? '/fhir').replace(/\/+$/, '');
  const prefix = options.prefix ?? 'medrec:smart:';
  const lifetimes = {
    access: Math.min(options.accessTokenSeconds ?? 3600, 3600),
    backend: Math.min(options.backendTokenSeconds ?? 300, 300),
    offline: options.offlineGrantSeconds ?? 30 * 86400,
    online: options.onlineGrantSeconds ?? 8 * 3600,
    code: 60,
  };
  const endpoints = smartEndpoints(origin, fhirBasePath, options.dynamicRegistration !== false);
  const store = new GrantStore({ redis: options.redis, prefix });
  const keys = new SigningKeys({
    redis: options.redis,
    prefix,
    retainRetiredSeconds: Math.max(lifetimes.access, 3600) + 300,
    ...(options.keySealingSecret ? { sealingSecret: options.keySealingSecret } : {}),
  });
  await keys.init();
  const clients = new ClientRegistry(options.clients, store, {
    ...(options.resolveParticipantClient ? { resolve: options.resolveParticipantClient } : {}),
    ...(options.listParticipantClients ? { list: options.listParticipantClients } : {}),
  });
  const authenticator = new ClientAuthenticator(clients, store, endpoints.token);
  const tokens = new TokenService({ keys, store, issuer: endpoints.issuer, fhirBaseUrl: endpoints.fhirBaseUrl });
  const siwe = new SiweLogin({ store, origin, chainId: options.chainId ?? 31337 });

  // Revocations and key rotations from any replica reach this one at once.
  const subscriber = options.redis.duplicate();
  await subscriber.subscribe(store.revocationChannel, keys.channel);
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === store.revocationChannel) store.evict(message);
    else if (channel === keys.channel) void keys.reload().catch((error: unknown) => app.log.warn({ err: error }, 'signing key reload failed'));
  });
  const rotationAge = options.keyRotationSeconds ?? 30 * 86400;
  const rotation =
    rotationAge > 0
      ? setInterval(() => {
          keys.rotateIfOlderThan(rotationAge).then(
            (kid) => kid && app.log.info({ kid }, 'SMART signing key rotated'),
            (error: unknown) => app.log.warn({ err: error }, 'SMART signing key rotation failed'),
          );
        }, 3600_000).unref()
      : undefined;
  app.addHook('onClose', async () => {
    clearInterval(rotation);
    await subscriber.quit().catch(() => subscriber.disconnect());
  });

  const describe = async (address: string): Promise<ParticipantInfo> => (await options.describeParticipant?.(address)) ?? {};
  const ctx: SmartContext = {
    options,
    endpoints,
    keys,
    store,
    clients,
    authenticator,
    tokens,
    siwe,
    lifetimes,
    snapshot: options.permissionSnapshot ?? selfOnlySnapshot,
    describe,
    async fhirUserOf(address) {
      return `${endpoints.fhirBaseUrl}/${fhirUserReference(address, (await describe(address)).role)}`;
    },
  };

  app.decorate('smartAuth', { endpoints, keys, store, clients, authenticator, tokens, siwe, capabilitySecurity: () => capabilitySecurity(endpoints) });

  // The routes live in their own context with their own form parser (the FHIR plugin has its own).
  await app.register(async (child) => {
    await child.register(formbody);
    const appCors = app.hasPlugin('@fastify/cors');

    // Discovery is public: any origin may read it (SMART "Considerations for CORS").
    const cors = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      reply.header('access-control-allow-origin', req.headers.origin ?? '*');
      reply.header('vary', 'Origin');
    };
    const json = (body: () => unknown) => async (_req: FastifyRequest, reply: FastifyReply) => reply.type('application/json').send(body());
    child.get(`${fhirBasePath}/.well-known/smart-configuration`, { onRequest: cors }, json(() => smartConfiguration(endpoints)));
    child.get('/.well-known/openid-configuration', { onRequest: cors }, json(() => openidConfiguration(endpoints)));
    child.get('/auth/jwks', { onRequest: cors }, async (_req, reply) => reply.header('cache-control', 'public, max-age=300').type('application/json').send(keys.jwks()));
    child.get('/auth/smart-style.json', { onRequest: cors }, json(() => SMART_STYLE));
    child.get('/auth/clients', async (_req, reply) =>
      reply.type('text/html').send(
        clientsPage(
          (await clients.all()).map((c: SmartClient) => ({
            clientId: c.clientId,
            name: c.name,
            type: c.type,
            origin: CLIENT_ORIGINS[c.origin ?? 'config'],
            allowed: c.allowedScope ?? (c.type === 'backend' ? 'none' : 'any supported patient/ or user/ scope (the on-chain grants still apply)'),
            redirectUris: c.redirectUris,
            ...(c.address ? { address: c.address } : {}),
          })),
        ),
      ),
    );

    // Browser apps call the back-channel endpoints cross-origin: echo the origin, answer preflights.
    // (An app-wide @fastify/cors, as buildApp registers, already does this.)
    const backChannel = appCors ? [] : ['/auth/token', '/auth/introspect', '/auth/revoke', '/auth/register'];
    child.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0]!;
      if (!backChannel.includes(path)) return;
      reply.header('access-control-allow-origin', req.headers.origin ?? '*').header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        return reply
          .code(204)
          .header('access-control-allow-methods', 'POST, OPTIONS')
          .header('access-control-allow-headers', 'Authorization, Content-Type, Accept')
          .header('access-control-max-age', '600')
          .send();
      }
    });
    for (const path of backChannel) child.options(path, async (_req, reply) => reply.code(204).send());

    registerAuthorizeRoutes(child, ctx);
    registerTokenRoutes(child, ctx);
  });

  if (options.protectFhir !== false) {
    const verifier = bearerVerifier({
      tokens,
      fhirBasePath,
      realm: endpoints.fhirBaseUrl,
      ...(options.openFhirPaths ? { openPaths: options.openFhirPaths } : {}),
      ...(options.anonymous ? { anonymous: options.anonymous } : {}),
    });
    app.addHook('onRequest', verifier);
  }
};

// Not encapsulated: the bearer hook and `smartAuth` must reach the FHIR plugin's routes.
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'smart-on-fhir';

export const smartOnFhir = plugin;

/**
 * The CapabilityStatement contribution (`rest[].security`: SMART service + oauth-uris), known
 * before the plugin starts so the FHIR layer can take it at registration.
 */
export function smartCapabilityContributor(options: Pick<SmartAuthOptions, 'publicUrl' | 'fhirBasePath' | 'dynamicRegistration'>): CapabilityContributor {
  const security = capabilitySecurity(smartEndpoints(new URL(options.publicUrl).origin, (options.fhirBasePath ?? '/fhir').replace(/\/+$/, ''), options.dynamicRegistration !== false));
  return (statement) => ({ ...statement, rest: (statement.rest ?? []).map((rest) => ({ ...rest, security: security as NonNullable<typeof rest.security> })) });
}
export default plugin;


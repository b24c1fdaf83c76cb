/**
 * The web apps as one Fastify plugin: the built patient app at `/patient/`, the provider console
 * at `/provider/`, in the embedded demo a demo SMART app at `/demo-app/`, and the backend-for-frontend
 * routes under `/web/api/`. Bundles served but missing (or, when asked, stale) at start are built
 * first (see build.ts), so `npm start` works from a fresh clone.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DemoIdentityView, WalletChainView, WebConfig } from './shared/src/api-types.ts';
import { buildWebApps, distDir, isFresh, WEB_APPS } from './build.ts';
import type { AccessLogSource, NotificationHub, PatientDesk, ProviderDesk, SmartLauncher, SourcesStatus } from './api/desks.ts';
import { DeskError } from './api/desks.ts';
import { demoWalletRoutes, type DemoKeyring } from './api/demo-wallet.ts';
import { patientRoutes } from './api/patient-routes.ts';
import { providerRoutes } from './api/provider-routes.ts';
import type { VerifyWebToken } from './api/web-principal.ts';

export const WEB_CLIENT_IDS = { patient: 'medrec-patient-app', provider: 'medrec-provider-console' } as const;

/** Where the demo SMART app answers an EHR launch; smart-on-fhir/demo-clients.ts registers it. */
export const DEMO_SMART_APP_LAUNCH_PATH = '/demo-app/launch';

/**
 * The two apps as SMART public clients (PKCE S256), for the authorization server's client list.
 * `publicUrl` is the server's origin as browsers reach it.
 */
export function webAppClients(publicUrl: string) {
  const origin = new URL(publicUrl).origin;
  return [
    { clientId: WEB_CLIENT_IDS.patient, name: 'MedRec patient app', type: 'public' as const, redirectUris: [`${origin}/patient/`], allowedScope: 'openid fhirUser launch/patient patient/*.rs patient/*.read' },
    { clientId: WEB_CLIENT_IDS.provider, name: 'MedRec provider console', type: 'public' as const, redirectUris: [`${origin}/provider/`], allowedScope: 'openid fhirUser' },
  ];
}

export interface WebAppsOptions {
  /** The FHIR base URL as browsers reach it (also the SMART `aud`). */
  readonly fhirBase: string;
  readonly verifyToken: VerifyWebToken;
  readonly patients?: PatientDesk;
  readonly accessLog?: AccessLogSource;
  readonly notifications?: NotificationHub;
  readonly providers?: ProviderDesk;
  readonly sources?: SourcesStatus;
  readonly smart?: SmartLauncher;
  /**
   * Embedded demo only: the published dev identities (one-click sign-in, demo signing), and the
   * client of the demo SMART app, which is then served at `/demo-app/` (launch: `/demo-app/launch`).
   */
  readonly demo?: DemoKeyring & { readonly identities: readonly DemoIdentityView[]; readonly smartAppClientId?: string };
  /** The chain patients sign for, told to browser wallets (switch to it, or add it). */
  readonly wallet?: WalletChainView;
  /**
   * Before serving, build the bundles that are `missing` (default), or also those `stale` against
   * their sources (what `npm start` asks, so an edited app is never served old), or nothing (`false`).
   */
  readonly build?: 'missing' | 'stale' | false;
}

export const webApps: FastifyPluginAsync<WebAppsOptions> = async (app: FastifyInstance, options) => {
  // The demo SMART app exists for the embedded demo only: elsewhere it is neither built nor served.
  const served = WEB_APPS.filter((name) => name !== 'demo-app' || options.demo?.smartAppClientId);
  const build = options.build ?? 'missing';
  if (build) {
    const needed = served.filter((a) => (build === 'stale' ? !isFresh(a) : !existsSync(join(distDir(a), 'index.html'))));
    if (needed.length) {
      const reports = await buildWebApps({ apps: needed, force: true });
      for (const r of reports) app.log.info({ app: r.app, ms: Math.round(r.ms) }, 'web app built');
    }
  }

  app.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
    if (error instanceof DeskError) {
      return reply.code(error.statusCode).send({ error: error.message, ...(error.next ? { next: error.next } : {}) });
    }
    const status = error.statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: error.message, next: 'Check what you entered and try again.' });
    }
    request.log.error({ err: error }, 'web api failure');
    return reply.code(500).send({ error: `Something went wrong on the server (request ${request.id}).`, next: 'Try again in a moment; if it keeps failing, give the node operator this request id.' });
  });

  for (const name of served) {
    await app.register(fastifyStatic, {
      root: distDir(name),
      prefix: `/${name}/`,
      decorateReply: false,
      // The app's entry is served by the route below (the router ignores trailing slashes, which
      // @fastify/static's own index route does not survive).
      index: false,
      wildcard: true,
      // Hashed asset names never change; index.html must always be revalidated.
      setHeaders: (reply, path) => {
        reply.header('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable');
        reply.header('x-content-type-options', 'nosniff');
      },
    });
  }

  for (const name of served) {
    const indexFile = join(distDir(name), 'index.html');
    const sendIndex = async (_request: FastifyRequest, reply: FastifyReply) => {
      if (!existsSync(indexFile)) {
        return reply.code(503).send({ error: `The ${name} app is not built.`, next: 'Run `node server/web/build.ts` and reload.' });
      }
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        .send(await readFile(indexFile));
    };
    app.get(`/${name}/`, sendIndex);
    // The SMART launch URL the demo app is registered with (the EHR adds iss and launch).
    if (name === 'demo-app') app.get(DEMO_SMART_APP_LAUNCH_PATH, sendIndex);
  }

  const features = {
    patient: !!options.patients,
    accessLog: !!options.accessLog,
    notifications: !!options.notifications,
    providers: !!options.providers,
    sources: !!options.sources,
    smart: !!options.smart,
  };

  app.get('/web/api/config', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            fhirBase: { type: 'string' },
            clients: { type: 'object', properties: { patient: { type: 'string' }, provider: { type: 'string' } }, required: ['patient', 'provider'] },
            demo: {
              type: 'object',
              properties: {
                identities: {
                  type: 'array',
                  items: { type: 'object', properties: { handle: { type: 'string' }, role: { type: 'string' }, displayName: { type: 'string' }, address: { type: 'string' } }, required: ['handle', 'role', 'displayName', 'address'] },
                },
                smartAppClientId: { type: 'string' },
              },
            },
            features: { type: 'object', additionalProperties: { type: 'boolean' } },
            wallet: {
              type: 'object',
              properties: { chainId: { type: 'integer' }, chainName: { type: 'string' }, rpcUrl: { type: 'string' } },
              required: ['chainId', 'chainName'],
            },
          },
          required: ['fhirBase', 'clients', 'features'],
        },
      },
    },
  }, async (): Promise<WebConfig> => ({
    fhirBase: options.fhirBase,
    clients: { ...WEB_CLIENT_IDS },
    ...(options.demo ? { demo: { identities: options.demo.identities, ...(options.demo.smartAppClientId ? { smartAppClientId: options.demo.smartAppClientId } : {}) } } : {}),
    features,
    ...(options.wallet ? { wallet: options.wallet } : {}),
  }));

  // Each BFF takes only its own app's tokens: a token the user gave another SMART app (which
  // may read records) must not let that app vote with the node's provider keys or sign grants.
  const tokensOf = (...clientIds: string[]): VerifyWebToken => async (token) => {
    const principal = await options.verifyToken(token);
    if (!clientIds.includes(principal.clientId)) throw new Error('a token issued to another app');
    return principal;
  };
  await app.register(patientRoutes, {
    prefix: '/web/api/patient',
    verifyToken: tokensOf(WEB_CLIENT_IDS.patient),
    desk: options.patients,
    accessLog: options.accessLog,
    notifications: options.notifications,
  });
  await app.register(providerRoutes, {
    prefix: '/web/api/provider',
    verifyToken: tokensOf(WEB_CLIENT_IDS.provider),
    desk: options.providers,
    sources: options.sources,
    smart: options.smart,
  });
  if (options.demo) await app.register(demoWalletRoutes, { prefix: '/web/api/demo-wallet', verifyToken: tokensOf(WEB_CLIENT_IDS.patient), keyring: options.demo });
};

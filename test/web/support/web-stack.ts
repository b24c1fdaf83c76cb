/**
 * The whole server for the browser tests: embedded anvil chain with the demo network seeded,
 * private redis-server, demo sources, chain-backed authorization (follower, snapshots, audit),
 * the SMART server and the web apps, on loopback. One per test file.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../server/app.ts';
import { auditRoutes } from '../../../server/audit/audit-routes.ts';
import { startAuthorization, type Authorization } from '../../../server/authz/authorization.ts';
import { closeSources, openSources } from '../../../server/config/open-sources.ts';
import { startEmbeddedChain, type EmbeddedChain } from '../../../server/embedded/chain.ts';
import { demoAddress } from '../../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../../server/embedded/demo-links.ts';
import { demoSources } from '../../../server/embedded/demo-sources.ts';
import { startRedisServer } from '../../../server/embedded/redis-server.ts';
import type { PatientLink } from '../../../server/fhir/patient-links.ts';
import { freePort } from '../../../server/util/free-port.ts';
import { ConsoleLinks } from '../../../server/web/desks/console-links.ts';
import { SourceCallCounts } from '../../../server/web/desks/source-calls.ts';
import { webApps, webAppClients } from '../../../server/web/web-apps.ts';
import { providerDemoSigners, wireWebApps } from '../../../server/web/web-wiring.ts';
import type { SmartClient } from '../../../smart-on-fhir/clients.ts';
import type { SourceConfig } from '../../../adapters/source-config.ts';
import { demoClients, demoSigners, describeDemoParticipant } from '../../../smart-on-fhir/demo-clients.ts';

export interface WebStack {
  readonly app: FastifyInstance;
  readonly origin: string;
  readonly chain: EmbeddedChain;
  readonly authz: Authorization;
  readonly artifacts: string;
  /** The node's data dir (the console's link changes are kept here). */
  readonly dataDir: string;
  /** The node's link table (the one the console changes and the FHIR layer resolves with). */
  readonly links: ConsoleLinks;
  close(): Promise<void>;
}

export async function startWebStack(
  name: string,
  extraClients: (origin: string) => SmartClient[] = () => [],
  extraSources: readonly SourceConfig[] = [],
  options: { readonly publishWalletRpc?: boolean; readonly extraLinks?: readonly PatientLink[] } = {},
): Promise<WebStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `medrec-web-${name}-`));
  const artifacts = join(process.cwd(), 'test-artifacts', 'web');
  mkdirSync(artifacts, { recursive: true });
  const log = pino({ level: 'silent' });
  // What has started so far, stopped in reverse by close() or when a later step fails (a failed
  // boot must fail the file at once, not leave redis and anvil holding it open until tap's timeout).
  const started: Array<() => unknown> = [];
  const stopAll = async () => {
    for (const stop of started.splice(0).reverse()) await stop();
  };
  try {
    const redisServer = await startRedisServer();
    started.push(() => redisServer.stop());
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const chain = await startEmbeddedChain({ blockTime: 0, fhirBaseUrl: () => `${origin}/fhir` });
    started.push(() => chain.stop());
    const sourceConfigs = [...demoSources(), ...extraSources];
    // As the web component does under npm start: the FHIR layer reports each call to a source.
    const calls = new SourceCallCounts();
    const sources = calls.instrument(await openSources(sourceConfigs, { log, dataDir, redisUrl: redisServer.url }));
    started.push(() => closeSources(sources));
    const authz = await startAuthorization({
      redisUrl: redisServer.url,
      chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contracts: chain.addresses, fromBlock: chain.deployment.fromBlock },
      keyPrefix: `web-${name}:`,
      queuePrefix: `web-${name}`,
      workers: true,
      syncEveryMs: 200,
      sources: () => sources,
    });
    started.push(() => authz.close());
    const links = new ConsoleLinks([
      ...DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId })),
      ...(options.extraLinks ?? []),
    ], join(dataDir, 'console-links.json'));
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 2 });
    started.push(() => redis.disconnect());
    const web = wireWebApps({
      chain: chain.client,
      links,
      sources: () => sources.map((s) => ({ ...s, kind: sourceConfigs.find((c) => c.id === s.sourceId)?.kind ?? 'source' })),
      sourceCounters: async (sourceId) => calls.counters(sourceId),
      demo: true,
      // As MEDREC_WALLET_RPC_URL does: browser wallets that do not know the chain may add it.
      ...(options.publishWalletRpc ? { walletRpcUrl: chain.rpcUrl } : {}),
    });
    started.push(() => web.close());
    const app = await buildApp(
      { publicUrl: origin, cursorSecret: `web-${name}`, sourceTimeoutMs: 5000, bodyLimit: 1_048_576, logLevel: 'silent' },
      {
        sources,
        patientLinks: links.table,
        accessPolicy: authz.policy,
        logger: log,
        smart: {
          publicUrl: origin,
          redis,
          prefix: `web-${name}:smart:`,
          clients: [...demoClients(origin), ...webAppClients(origin), ...extraClients(origin)],
          permissionSnapshot: (subject) => authz.snapshots.get(subject),
          describeParticipant: describeDemoParticipant,
          demoSigners: [...demoSigners(), ...providerDemoSigners()],
          chainId: chain.chainId,
        },
      },
    );
    started.push(() => app.close());
    // As server/main.ts extends the app: the patient-readable audit route, then the web apps.
    await app.register(auditRoutes, { prefix: '/fhir', trail: authz.audit, snapshots: authz.snapshots, freshness: authz.freshness, contextOf: (request) => request.accessContext });
    await app.register(webApps, web.options(app));
    await app.listen({ port, host: '127.0.0.1' });
    return {
      app,
      origin,
      chain,
      authz,
      artifacts,
      dataDir,
      links,
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

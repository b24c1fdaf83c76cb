/**
 * `npm start`: loads and validates configuration, starts the embedded pieces that are not
 * configured externally (in order), opens the sources, builds the app, listens, prints where
 * to look, and shuts everything down in reverse order on SIGINT/SIGTERM.
 *
 * To add an embedded piece (the chain, authorization workers, ...), add a component to
 * `components()` below at the right place in the order: each gets the shared start context,
 * may contribute to it (URLs, sources, links, app dependencies) and returns its stop function.
 */
import { mkdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { AdapterContext, SourceConfig } from '../adapters/source-config.ts';
import { buildApp } from './app.ts';
import type { AppDeps } from './app.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import type { AppConfig } from './config/config.ts';
import { closeSources, openSources } from './config/open-sources.ts';
import { readSourcesFile, readSourcesLinks } from './config/sources-file.ts';
import { demoAddress } from './embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from './embedded/demo-links.ts';
import { demoSources } from './embedded/demo-sources.ts';
import { startRedisServer } from './embedded/redis-server.ts';
import { InMemoryPatientLinks } from './fhir/patient-links.ts';
import { RedisDigestMap } from './fhir/redis-digest-map.ts';
import type { PatientLinks } from './fhir/patient-links.ts';
import type { LinkRow } from './config/sources-file.ts';
import type { FederatedSource } from './fhir/source-directory.ts';
import type { MedRecAddresses } from '../contracts/deployment.ts';
import { authorizationComponent, chainComponent } from './authz/embedded-components.ts';
import { smartComponent } from '../smart-on-fhir/embedded-component.ts';
import { webComponent } from './web/embedded-component.ts';
import { providerNodeComponent } from './node/provider-node-component.ts';

/** What components share while starting; later components see what earlier ones set. */
export interface StartContext {
  readonly config: AppConfig;
  readonly log: Logger;
  /** Whether the embedded demo (demo sources, demo chain seed) is in use. */
  readonly demo: boolean;
  redisUrl?: string;
  sourceConfigs: SourceConfig[];
  links: LinkRow[];
  sources: FederatedSource[];
  /** App dependencies contributed by components (access policy, capability contributors, checks). */
  deps: Partial<Omit<AppDeps, 'sources' | 'patientLinks'>>;
  /** The consent chain the authorization follows (set by the chain component). */
  chain?: { rpcUrl: string; chainId: number; contracts: MedRecAddresses; fromBlock: number };
  /** Run on the built app before it listens (routes such as /metrics and /fhir/AuditEvent). */
  appExtensions: Array<(app: FastifyInstance) => Promise<void>>;
  /** Narrows the app's link table to what the chain vouches for (set by the authorization component). */
  vouchLinks?: (links: PatientLinks) => PatientLinks;
  /** The salt of a provider's link commitment for a patient (set by the authorization component). */
  linkSaltOf?: (provider: string, patient: string) => string | undefined;
  /** The link table the app uses, when a component must share it (the provider console links patients). */
  patientLinks?: InMemoryPatientLinks;
  /** Given to sources: feed changes to announce (set by the provider-node component). */
  recordsChanged?: AdapterContext['recordsChanged'];
  /** Given to sources: peer nodes' FHIR bases from the provider registry. */
  resolveProviderFhirBase?: AdapterContext['resolveProviderFhirBase'];
  /** Given to sources: this node's own provider address (set by the provider-node component). */
  nodeProvider?: string;
}

export interface EmbeddedComponent {
  readonly name: string;
  start(ctx: StartContext): Promise<(() => Promise<void>) | void>;
}

const redisComponent: EmbeddedComponent = {
  name: 'redis',
  async start(ctx) {
    if (ctx.redisUrl) return;
    const redis = await startRedisServer({ dir: `${ctx.config.dataDir}/redis` });
    ctx.redisUrl = redis.url;
    ctx.log.info({ port: redis.port }, 'private redis-server started (set REDIS_URL to use your own)');
    return () => redis.stop();
  },
};

/** Digested resource ids kept in Redis, so every replica and restart can decode them. */
const resourceIdsComponent: EmbeddedComponent = {
  name: 'resource-ids',
  async start(ctx) {
    if (!ctx.redisUrl) return;
    const digests = new RedisDigestMap(new Redis(ctx.redisUrl, { maxRetriesPerRequest: 1 }));
    ctx.deps = { ...ctx.deps, idDigests: digests };
    // Every id handed out is stored before the connection closes.
    return () => digests.close();
  },
};

const sourcesComponent: EmbeddedComponent = {
  name: 'sources',
  async start(ctx) {
    ctx.sources = await openSources(ctx.sourceConfigs, {
      log: ctx.log,
      dataDir: ctx.config.dataDir,
      redisUrl: ctx.redisUrl,
      recordsChanged: ctx.recordsChanged,
      resolveProviderFhirBase: ctx.resolveProviderFhirBase,
      nodeProvider: ctx.nodeProvider,
    });
    ctx.log.info({ sources: ctx.sources.map((s) => s.sourceId) }, 'sources open');
    return () => closeSources(ctx.sources);
  },
};

/** The start order. Stops run in reverse. */
function components(): EmbeddedComponent[] {
  return [
    redisComponent,
    resourceIdsComponent,
    chainComponent,
    providerNodeComponent,
    sourcesComponent,
    authorizationComponent,
    smartComponent,
    webComponent,
  ];
}

const vouched = (ctx: StartContext, links: PatientLinks): PatientLinks => ctx.vouchLinks?.(links) ?? links;

export interface RunningMedrec {
  readonly app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  /** The open sources (the banner names the HL7v2 feeds' MLLP ports). */
  readonly sources: readonly FederatedSource[];
  stop(): Promise<void>;
}

export async function startMedrec(config: AppConfig, log: Logger = pino({ level: config.logLevel })): Promise<RunningMedrec> {
  mkdirSync(config.dataDir, { recursive: true });
  const demo = config.sourcesFile === undefined;
  const ctx: StartContext = {
    config,
    log,
    demo,
    redisUrl: config.redisUrl,
    sourceConfigs: demo ? demoSources() : await readSourcesFile(config.sourcesFile as string),
    links: demo
      ? DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }))
      : await readSourcesLinks(config.sourcesFile as string),
    sources: [],
    deps: {},
    appExtensions: [],
  };
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err, component: name }, 'stop failed');
      }
    }
    stops.length = 0;
  };
  let app: FastifyInstance | undefined;
  try {
    for (const component of components()) {
      const stop = await component.start(ctx);
      if (stop) stops.push({ name: component.name, stop });
    }
    app = await buildApp(config, { ...ctx.deps, sources: ctx.sources, patientLinks: vouched(ctx, ctx.patientLinks ?? new InMemoryPatientLinks(ctx.links)), logger: log });
    for (const extend of ctx.appExtensions) await extend(app);
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app?.close();
    await stopAll();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const running = app;
  return {
    app: running,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    sources: ctx.sources,
    async stop() {
      await running.close();
      await stopAll();
    },
  };
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`medrec: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel });
  let running: RunningMedrec;
  try {
    running = await startMedrec(config, log);
  } catch (err) {
    // A bad sources file is configuration too: the same one-line report and exit code 2.
    if (err instanceof ConfigError) {
      console.error(`medrec: ${err.message}`);
      process.exit(2);
    }
    console.error(`medrec: could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  const alice = demoAddress('alice');
  const { Hl7v2Source } = await import('../adapters/hl7v2/hl7v2-adapter.ts');
  const feeds = running.sources.flatMap((s) => (s.adapter instanceof Hl7v2Source && s.adapter.mllpPort ? [{ name: s.name, port: s.adapter.mllpPort }] : []));
  console.log(
    [
      '',
      `MedRec-FHIR is up: ${running.url}`,
      `  FHIR R4 base      ${running.url}/fhir   (CapabilityStatement: ${running.url}/fhir/metadata)`,
      `  health            ${running.url}/healthz   ${running.url}/readyz`,
      `  patient app       ${running.url}/patient/   (sign in, see and control who reads your records)`,
      `  provider console  ${running.url}/provider/  (membership votes, patient links, sources, SMART launch)`,
      ...feeds.map((f) => `  HL7v2 MLLP        port ${f.port}   (${f.name}: point an interface engine or any MLLP client at it)`),
      ...(config.sourcesFile === undefined
        ? [
            `  demo SMART app    ${running.url}/demo-app/  (launch it for a patient from the provider console's SMART apps tab)`,
            `  demo token        TOKEN=$(npm run -s demo-token -- ${running.url})   (the demo pharmacy, SMART Backend Services)`,
            `  demo search       curl -H "Authorization: Bearer $TOKEN" '${running.url}/fhir/MedicationRequest?patient=${alice}'`,
            `                    (alice's prescriptions merged from every provider holding her records)`,
          ]
        : []),
      '  stop              Ctrl-C',
      '',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

if (import.meta.main) await main();

/**
 * Test helper: the FHIR app over the embedded demo sources (or given adapters), with the
 * demo links, silent logs and a fixed cursor secret.
 */
import type { FastifyInstance } from 'fastify';
import type { EhrAdapter } from '../../adapters/ehr-adapter.ts';
import { createEmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import type { AccessPolicy } from '../../server/access/access-policy.ts';
import { buildApp } from '../../server/app.ts';
import type { AppDeps } from '../../server/app.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { demoSources } from '../../server/embedded/demo-sources.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import type { FederatedSource } from '../../server/fhir/source-directory.ts';
import pino from 'pino';

export const alice = demoAddress('alice');
export const bob = demoAddress('bob');
export const carol = demoAddress('carol');
export const dave = demoAddress('dave');

/** The demo's bundle-backed providers (hospital, clinic, pharmacy records); the SQL and HL7v2 demo sources have their own suites. */
export async function demoFederatedSources(): Promise<FederatedSource[]> {
  const log = pino({ level: 'silent' });
  return Promise.all(
    demoSources().filter((config) => config.kind === 'embedded').map(async (config) => ({
      sourceId: config.id,
      provider: config.provider,
      name: config.name,
      adapter: await createEmbeddedAdapter(config, { log, dataDir: '/tmp' }),
    })),
  );
}

export function demoLinks(): InMemoryPatientLinks {
  return new InMemoryPatientLinks(DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId })));
}

export interface TestAppOptions {
  readonly sources?: readonly FederatedSource[];
  readonly extraSources?: readonly FederatedSource[];
  readonly accessPolicy?: AccessPolicy;
  readonly sourceTimeoutMs?: number;
  readonly deps?: Partial<AppDeps>;
  readonly logger?: AppDeps['logger'];
}

export async function demoApp(options: TestAppOptions = {}): Promise<FastifyInstance> {
  const sources = [...(options.sources ?? (await demoFederatedSources())), ...(options.extraSources ?? [])];
  return buildApp(
    { cursorSecret: 'test-secret-test-secret-test-secret!', sourceTimeoutMs: options.sourceTimeoutMs ?? 2000, bodyLimit: 64 * 1024, logLevel: 'silent' },
    { sources, patientLinks: demoLinks(), accessPolicy: options.accessPolicy, logger: options.logger, ...options.deps },
  );
}

export function source(sourceId: string, adapter: EhrAdapter, provider = sourceId): FederatedSource {
  return { sourceId, provider, name: `Source ${sourceId}`, adapter };
}

/** JSON body of an inject response, typed loosely for assertions. */
export function json(res: { body: string }): any {
  return JSON.parse(res.body);
}

/**
 * The whole server as `buildApp` composes it (FHIR spine over the embedded demo sources, the
 * chain-backed access policy, the SMART plugin), on loopback with a private redis-server.
 * The chain itself is issue 4's: here the policy reads permission snapshots from a fixed table
 * that states the demo's grants, so these tests exercise scope ∩ snapshot ∩ compartment as the
 * SMART layer's AccessContext feeds it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../server/app.ts';
import { closeSources, openSources } from '../../../server/config/open-sources.ts';
import { demoAddress } from '../../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../../server/embedded/demo-links.ts';
import { demoSources } from '../../../server/embedded/demo-sources.ts';
import { startRedisServer } from '../../../server/embedded/redis-server.ts';
import { InMemoryPatientLinks } from '../../../server/fhir/patient-links.ts';
import { ChainAccessPolicy } from '../../../server/authz/chain-access-policy.ts';
import { SyncFreshness } from '../../../server/authz/sync-freshness.ts';
import type { PermissionEntry, PermissionSnapshot } from '../../../server/access/permission-snapshot.ts';
import { freePort } from '../../../server/util/free-port.ts';
import { demoClients, describeDemoParticipant, demoSigners } from '../../../smart-on-fhir/demo-clients.ts';
import type { SmartClient } from '../../../smart-on-fhir/clients.ts';
import { PARTICIPANT_SOURCE_ID, ParticipantSource } from '../../../smart-on-fhir/participant-source.ts';

export interface FullStack {
  readonly app: FastifyInstance;
  readonly origin: string;
  readonly fhirBase: string;
  close(): Promise<void>;
}

const self = (patient: string): PermissionEntry => ({
  patient,
  providers: '*',
  resourceTypes: '*',
  actions: ['read', 'search'],
  purpose: 'any',
  notBefore: 0,
  expiresAt: 0,
  basis: 'self',
});

/**
 * The demo's grants as snapshots: every patient sees themselves; the pharmacy sees medications;
 * the clinician and proxy see alice, and the clinician bob's encounters too.
 */
export function demoSnapshot(subject: string): PermissionSnapshot {
  const patients = ['alice', 'bob', 'carol', 'dave'].map(demoAddress);
  const entries: PermissionEntry[] = [];
  if (patients.includes(subject)) entries.push(self(subject));
  if (subject === demoAddress('pharmacy')) {
    for (const p of [demoAddress('alice'), demoAddress('bob')]) {
      entries.push({ ...self(p), resourceTypes: ['MedicationRequest', 'Medication', 'MedicationDispense', 'MedicationStatement'], purpose: 'treatment', basis: 'grant', ref: `grant-pharmacy-${p}` });
    }
  }
  if (subject === demoAddress('clinician')) {
    entries.push({ ...self(demoAddress('alice')), purpose: 'treatment', basis: 'grant', ref: 'grant-clinician-alice' });
    entries.push({ ...self(demoAddress('bob')), resourceTypes: ['Encounter'], purpose: 'treatment', basis: 'grant', ref: 'grant-clinician-bob-encounters' });
  }
  if (subject === demoAddress('proxy')) entries.push({ ...self(demoAddress('alice')), basis: 'delegation', ref: 'delegation-proxy-alice' });
  return { subject, blockNumber: 1, entries };
}

export async function startFullStack(extraClients: readonly SmartClient[] = []): Promise<FullStack> {
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 2 });
  const log = pino({ level: 'silent' });
  const sources = await openSources(demoSources(), { log, dataDir: mkdtempSync(join(tmpdir(), 'medrec-smart-')), redisUrl: redisServer.url });
  // The non-patients' fhirUser records, as the embedded server serves them.
  sources.push({ sourceId: PARTICIPANT_SOURCE_ID, provider: PARTICIPANT_SOURCE_ID, name: 'Participant directory', adapter: new ParticipantSource(describeDemoParticipant, 31337) });
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const freshness = new SyncFreshness({ maxHeadAgeMs: 24 * 3600_000, maxRedisSilenceMs: 24 * 3600_000 });
  freshness.observe({ cursor: 1, head: 1, headSeenAt: Date.now() });
  const snapshots = { get: async (subject: string) => demoSnapshot(subject) };
  const app = await buildApp(
    { publicUrl: origin, cursorSecret: 'smart-test-secret', sourceTimeoutMs: 5000, bodyLimit: 1_048_576, logLevel: 'silent' },
    {
      sources,
      patientLinks: new InMemoryPatientLinks(DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }))),
      accessPolicy: new ChainAccessPolicy({ snapshots, freshness }),
      logger: log,
      smart: {
        publicUrl: origin,
        redis,
        prefix: `smart${port}:`,
        clients: [...demoClients(), ...extraClients],
        permissionSnapshot: snapshots.get,
        describeParticipant: describeDemoParticipant,
        demoSigners: demoSigners(),
      },
    },
  );
  await app.listen({ port, host: '127.0.0.1' });
  return {
    app,
    origin,
    fhirBase: `${origin}/fhir`,
    async close() {
      await app.close();
      await closeSources(sources);
      redis.disconnect();
      await redisServer.stop();
    },
  };
}

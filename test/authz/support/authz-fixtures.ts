/** Access contexts and waiting helpers shared by the authorization tests and benches. */
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createEmbeddedAdapter } from '../../../adapters/embedded/embedded-adapter.ts';
import { demoSources } from '../../../server/embedded/demo-sources.ts';
import type { FederatedSource } from '../../../server/fhir/source-directory.ts';
import type { AccessContext, ResourceScope, ScopeInteraction, ScopeLevel } from '../../../server/access/access-context.ts';

export function scope(level: ScopeLevel, resourceType: string, letters = 'rs'): ResourceScope {
  return {
    level,
    resourceType,
    interactions: new Set(letters.split('') as ScopeInteraction[]),
    raw: `${level}/${resourceType}.${letters}`,
  };
}

export function contextFor(subject: string, scopes: ResourceScope[], extra: Partial<AccessContext> = {}): AccessContext {
  return { clientId: 'test-client', subject, scopes, ...extra };
}

/**
 * Polls until `check` returns a value other than undefined; fails after `limitMs` with `what`.
 * The limit only bounds a broken run: no assertion depends on how long it took.
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, limitMs = 20_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await sleep(50);
  }
}

/**
 * The embedded demo's bundle-backed sources (hospital, clinic, pharmacy records), opened as the
 * FHIR app uses them. Other demo source kinds (SQL, HL7v2) are left out: these tests are about
 * authorization, and the three embedded providers already overlap on the same patients.
 */
export async function embeddedDemoSources(): Promise<FederatedSource[]> {
  const log = pino({ level: 'silent' });
  return Promise.all(
    demoSources()
      .filter((config) => config.kind === 'embedded')
      .map(async (config) => ({
        sourceId: config.id,
        provider: config.provider,
        name: config.name,
        adapter: await createEmbeddedAdapter(config, { log, dataDir: tmpdir() }),
      })),
  );
}

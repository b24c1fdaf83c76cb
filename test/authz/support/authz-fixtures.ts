/** Access contexts and waiting helpers shared by the authorization tests and benches. */
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Test } from 'tap';
import { createEmbeddedAdapter } from '../../../adapters/embedded/embedded-adapter.ts';
import { demoSources } from '../../../server/embedded/demo-sources.ts';
import type { FederatedSource } from '../../../server/fhir/source-directory.ts';
import type { AccessContext, ResourceScope, ScopeInteraction, ScopeLevel } from '../../../server/access/access-context.ts';
import { startAuthorization, type Authorization, type AuthorizationOptions } from '../../../server/authz/authorization.ts';
import type { TestChain } from './test-chain.ts';

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

/**
 * Authorization following a test chain from its deployment block, with Redis key and queue
 * prefixes named after the test (so tests sharing a redis-server never meet); closed at teardown.
 */
export async function authorizationOn(
  t: Test,
  chain: TestChain,
  redisUrl: string,
  name: string,
  options: Partial<Omit<AuthorizationOptions, 'redisUrl' | 'chain'>> & { chain?: Partial<AuthorizationOptions['chain']> } = {},
): Promise<Authorization> {
  const { chain: chainOptions, ...rest } = options;
  const authz = await startAuthorization({
    redisUrl,
    chain: { rpcUrl: chain.url, chainId: 31337, contracts: chain.contracts, fromBlock: chain.deployBlock, ...chainOptions },
    keyPrefix: `${name}:`,
    queuePrefix: name,
    syncEveryMs: 50,
    ...rest,
  });
  t.teardown(() => authz.close());
  return authz;
}

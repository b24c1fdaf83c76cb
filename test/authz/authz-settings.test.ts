/**
 * Authorization settings are validated like every other setting: a bad value stops the server
 * at start with one line naming it (exit code 2), never a silently unbounded staleness.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { ConfigError, loadConfig } from '../../server/config/config.ts';
import { DEFAULT_FRESHNESS, SyncFreshness } from '../../server/authz/sync-freshness.ts';

t.test('defaults: lag 2 blocks, head age 5 s, no confirmations', async (t) => {
  t.same(loadConfig({}).authz, { maxLagBlocks: 2, maxHeadAgeMs: 5000, confirmations: 0 });
  t.same(loadConfig({ AUTHZ_MAX_LAG_BLOCKS: '0', AUTHZ_MAX_HEAD_AGE_MS: '60000', AUTHZ_CONFIRMATIONS: '6' }).authz, {
    maxLagBlocks: 0,
    maxHeadAgeMs: 60000,
    confirmations: 6,
  });
});

t.test('a bad AUTHZ_* value is one line naming the variable', async (t) => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      t.ok(err instanceof ConfigError);
      return [...(err as ConfigError).problems];
    }
  };
  t.match(problems({ AUTHZ_MAX_LAG_BLOCKS: 'two' }), [/^AUTHZ_MAX_LAG_BLOCKS=two: must be a whole number from 0 to 100000$/]);
  t.match(problems({ AUTHZ_MAX_HEAD_AGE_MS: '-5' }), [/^AUTHZ_MAX_HEAD_AGE_MS=-5: must be a whole number/]);
  t.match(problems({ AUTHZ_CONFIRMATIONS: '1.5' }), [/^AUTHZ_CONFIRMATIONS=1.5: must be a whole number from 0 to 1000$/]);
});

t.test('npm start refuses a bad AUTHZ_MAX_LAG_BLOCKS with exit code 2 before starting anything', async (t) => {
  const child = spawn(process.execPath, ['server/main.ts'], {
    env: { ...process.env, AUTHZ_MAX_LAG_BLOCKS: 'lots', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 2);
  t.match(stderr, /AUTHZ_MAX_LAG_BLOCKS=lots: must be a whole number/);
});

t.test('a bound that is not a number counts as 0, never as "always fresh"', async (t) => {
  const now = 1_000_000;
  const freshness = new SyncFreshness({ maxLagBlocks: Number('two'), maxHeadAgeMs: Number.NaN, maxRedisSilenceMs: 5_000 });
  t.same(freshness.bounds, { maxLagBlocks: 0, maxHeadAgeMs: 0, maxRedisSilenceMs: 5_000 });
  freshness.observe({ cursor: 10, head: 11, headSeenAt: now }, now);
  t.match(freshness.verdict(now), { fresh: false, reason: 'lagging' }, 'one block behind is beyond a bound of 0');
  freshness.observe({ cursor: 11, head: 11, headSeenAt: now }, now);
  t.match(freshness.verdict(now), { fresh: true });
  t.match(freshness.verdict(now + 1), { fresh: false, reason: 'chain-unreachable' });
});

t.test('a bound given as undefined is the default, not 0', async (t) => {
  const freshness = new SyncFreshness({ maxLagBlocks: undefined, maxHeadAgeMs: undefined, maxRedisSilenceMs: 5_000 });
  t.same(freshness.bounds, { ...DEFAULT_FRESHNESS, maxRedisSilenceMs: 5_000 });
  const now = 1_000_000;
  freshness.observe({ cursor: 10, head: 11, headSeenAt: now }, now);
  t.match(freshness.verdict(now + 1), { fresh: true }, 'one block behind, a millisecond later: within the default bounds');
});

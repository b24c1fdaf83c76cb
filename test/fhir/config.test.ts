import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../server/config/config.ts';
import { readSourcesFile, readSourcesLinks } from '../../server/config/sources-file.ts';

t.test('defaults need no configuration at all', async (t) => {
  const config = loadConfig({});
  t.equal(config.port, 8080);
  t.equal(config.host, '0.0.0.0');
  t.equal(config.sourcesFile, undefined, 'embedded demo sources');
  t.equal(config.redisUrl, undefined, 'private redis-server');
});

t.test('every bad variable is reported at once, one clear line each', async (t) => {
  try {
    loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', MEDREC_CURSOR_SECRET: 'short', LOG_LEVEL: 'loud', MEDREC_SOURCE_TIMEOUT_MS: '0' });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    const problems = (err as ConfigError).problems;
    t.equal(problems.length, 5);
    t.match(problems.join('\n'), /PORT=eighty: must be a whole number from 0 to 65535/);
    t.match(problems.join('\n'), /REDIS_URL=http:\/\/x: must be a redis: or rediss: URL/);
    t.match(problems.join('\n'), /MEDREC_CURSOR_SECRET: must be at least 32 characters/);
  }
});

t.test('a sources file is validated before any source is opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-config-'));
  const file = join(dir, 'sources.json');
  writeFileSync(file, JSON.stringify({
    sources: [
      { id: 'Hospital!', kind: 'embedded', provider: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', name: 'H', options: { files: ['a.json'] } },
      { id: 'b', kind: 'telepathy', provider: 'b', name: 'B' },
      { id: 'b', kind: 'embedded', provider: 'b', name: '' },
    ],
  }));
  const err = await readSourcesFile(file).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof ConfigError);
  const text = (err as ConfigError).problems.join('\n');
  t.match(text, /sources\[0\]\.id must match/);
  t.match(text, /sources\[1\]\.kind must be one of .*embedded/);
  t.match(text, /sources\[2\]\.id "b" is used twice/);
  t.match(text, /sources\[2\]\.name/);
  writeFileSync(file, '{ not json');
  await t.rejects(readSourcesFile(file), /not valid JSON/);
  await t.rejects(readSourcesFile(join(dir, 'missing.json')), /cannot read \(ENOENT\)/);
  writeFileSync(file, JSON.stringify({
    sources: [{ id: 'h', kind: 'embedded', provider: 'h', name: 'H', options: { files: ['x.json'] } }],
    links: [{ patient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', sourceId: 'h', localId: '42' }],
  }));
  t.equal((await readSourcesFile(file)).length, 1);
  t.same(await readSourcesLinks(file), [{ patient: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', sourceId: 'h', localId: '42' }]);
});

t.test('npm start exits with code 2 and one line per problem, for bad variables and for a bad sources file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-config-exit-'));
  const file = join(dir, 'sources.json');
  writeFileSync(file, JSON.stringify({ sources: [{ id: 'Bad Id', kind: 'embedded', provider: 'h', name: 'H' }] }));
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['server/main.ts'], { cwd: join(import.meta.dirname, '../..'), env: { PATH: process.env.PATH, MEDREC_DATA_DIR: dir, PORT: '0', ...env }, encoding: 'utf8', timeout: 60_000 });
  const badVariable = start({ PORT: 'eighty' });
  t.equal(badVariable.status, 2);
  t.match(badVariable.stderr, /PORT=eighty: must be a whole number/);
  const badFile = start({ MEDREC_SOURCES: file });
  t.equal(badFile.status, 2);
  t.match(badFile.stderr, /sources\[0\]\.id must match/);
  t.notMatch(badFile.stderr, /at .*\.ts/, 'no stack trace');
});

/**
 * The web apps' build: every bundle is built from their sources, stay small, and an unchanged
 * app is not rebuilt (the stamp records a hash of every input); the browser sources type-check
 * under their own tsconfig (DOM, Preact JSX).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildWebApps, distDir, inputHash, isFresh, WEB_APPS, WEB_ROOT } from '../../server/web/build.ts';

t.test('every app is built and an unchanged app is not rebuilt', async (t) => {
  await buildWebApps();
  for (const app of WEB_APPS) t.ok(isFresh(app), `${app} bundle matches its sources`);
  const again = await buildWebApps();
  t.same(again.map((r) => r.built), WEB_APPS.map(() => false), 'a second build does nothing');
  const stamp = JSON.parse(readFileSync(join(distDir('patient'), '.build-stamp.json'), 'utf8')) as { hash: string };
  t.equal(stamp.hash, inputHash('patient'), 'the stamp is the hash of the inputs');
});

t.test('bundles stay small (JavaScript under 80 kB per app, before compression)', async (t) => {
  for (const app of WEB_APPS) {
    const assets = join(distDir(app), 'assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js')).reduce((n, f) => n + statSync(join(assets, f)).size, 0);
    t.ok(js > 0 && js < 80_000, `${app}: ${js} bytes of JavaScript`);
  }
});

t.test('the browser sources type-check', async (t) => {
  const tsc = spawnSync(process.execPath, [join(WEB_ROOT, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', join(WEB_ROOT, 'tsconfig.json')], { encoding: 'utf8' });
  t.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

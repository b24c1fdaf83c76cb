/**
 * The web apps' build: every bundle is built from their sources, stay small, and an unchanged
 * app is not rebuilt (the stamp records a hash of every input); a node builds and serves the demo
 * SMART app only in the embedded demo; the browser sources type-check under their own tsconfig
 * (DOM, Preact JSX).
 */
import t from 'tap';
import Fastify from 'fastify';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWebApps, distDir, inputHash, isFresh, WEB_APPS, WEB_ROOT } from '../../server/web/build.ts';
import { webApps, type WebAppsOptions } from '../../server/web/web-apps.ts';

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

t.test('a node builds and serves the demo SMART app only in the embedded demo', async (t) => {
  // The demo app's bundle is set aside, as in a fresh clone (put back if the test stops early).
  const demoDist = distDir('demo-app');
  const aside = join(mkdtempSync(join(tmpdir(), 'web-build-')), 'dist');
  renameSync(demoDist, aside);
  t.teardown(() => { if (!existsSync(demoDist)) renameSync(aside, demoDist); });
  const start = async (extra: Partial<WebAppsOptions>) => {
    const app = Fastify();
    t.teardown(() => app.close());
    await app.register(webApps, { fhirBase: 'http://127.0.0.1/fhir', verifyToken: async () => { throw new Error('no sign-in here'); }, ...extra });
    return app;
  };

  const node = await start({});
  t.notOk(existsSync(join(demoDist, 'index.html')), 'a node outside the demo does not build it');
  t.equal((await node.inject('/demo-app/')).statusCode, 404, 'nor serve it');
  t.equal((await node.inject('/demo-app/launch')).statusCode, 404, 'nor answer its launch URL');
  t.equal((await node.inject('/provider/')).statusCode, 200, 'while its own apps are served');

  const demo = await start({ demo: { identities: [], signTypedData: async () => undefined, smartAppClientId: 'medrec-demo-patient-app' } });
  t.ok(isFresh('demo-app'), 'the embedded demo builds it when it is missing');
  t.equal((await demo.inject('/demo-app/')).statusCode, 200, 'and serves it');
  t.equal((await demo.inject('/demo-app/launch?iss=x&launch=y')).statusCode, 200, 'with its launch URL');
});

t.test('the browser sources type-check', async (t) => {
  const tsc = spawnSync(process.execPath, [join(WEB_ROOT, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', join(WEB_ROOT, 'tsconfig.json')], { encoding: 'utf8' });
  t.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

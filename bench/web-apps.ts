/**
 * Web apps: build cost and first paint, as ratios measured in the same run.
 * - build: an up-to-date check (what `npm test` and `npm start` pay when nothing changed) against
 *   a forced full Vite build of every app;
 * - bundle: JavaScript and CSS bytes per app, raw and gzipped;
 * - first screen: headless Chromium loading the patient app until its sign-in heading shows,
 *   against the same server's bare HTML page with the same heading (median of N loads each).
 */
import Fastify from 'fastify';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildWebApps, distDir, WEB_APPS } from '../server/web/build.ts';
import { webApps } from '../server/web/web-apps.ts';
import { launchBrowser } from '../test/web/support/browser.ts';

const LOADS = Number(process.argv[2] ?? 15);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const full = performance.now();
await buildWebApps({ force: true });
const fullMs = performance.now() - full;
const check = performance.now();
await buildWebApps();
const checkMs = performance.now() - check;
console.log(`build: full ${fullMs.toFixed(0)} ms, up-to-date check ${checkMs.toFixed(1)} ms (ratio ${(checkMs / fullMs).toFixed(4)})`);

for (const app of WEB_APPS) {
  const assets = join(distDir(app), 'assets');
  let raw = 0;
  let gz = 0;
  for (const f of readdirSync(assets)) {
    const bytes = readFileSync(join(assets, f));
    raw += bytes.length;
    gz += gzipSync(bytes).length;
  }
  console.log(`bundle ${app}: ${raw} bytes, ${gz} gzipped`);
}

const server = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
await server.register(webApps, { fhirBase: 'http://127.0.0.1/fhir', verifyToken: async () => { throw new Error('no sign-in in this bench'); } });
server.get('/bare', async (_req, reply) => reply.type('text/html').send('<!doctype html><html lang="en"><title>bare</title><h2>Your records, your say</h2></html>'));
const origin = await server.listen({ port: 0, host: '127.0.0.1' });
const browser = await launchBrowser();
const load = async (path: string): Promise<number> => {
  const page = await browser.newPage();
  const t0 = performance.now();
  await page.goto(`${origin}${path}`);
  await page.getByRole('heading', { name: 'Your records, your say' }).waitFor();
  const ms = performance.now() - t0;
  await page.close();
  return ms;
};
await load('/patient/');
await load('/bare');
const app: number[] = [];
const bare: number[] = [];
for (let i = 0; i < LOADS; i++) {
  app.push(await load('/patient/'));
  bare.push(await load('/bare'));
}
console.log(`first screen: patient app ${median(app).toFixed(1)} ms, bare page ${median(bare).toFixed(1)} ms (ratio ${(median(app) / median(bare)).toFixed(2)}, median of ${LOADS})`);
await browser.close();
await server.close();

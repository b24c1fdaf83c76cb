/**
 * Builds the web apps (patient app, provider console, demo SMART app) with Vite into `server/web/<app>/dist/`.
 *
 * Incremental: each app's dist carries a stamp with a hash of every input (the app's sources, the
 * shared browser sources, this script, the toolchain versions); an unchanged app is not rebuilt,
 * so `npm test` and `npm start` pay for a build only after a change. `--force` rebuilds anyway.
 * Run directly (`node server/web/build.ts`) or through `buildWebApps()` (the server calls it on
 * start when a bundle is missing).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_ROOT = dirname(fileURLToPath(import.meta.url));
/** The patient app, the provider console, and the embedded demo's SMART app (served in the demo only). */
export const WEB_APPS = ['patient', 'provider', 'demo-app'] as const;
export type WebAppName = (typeof WEB_APPS)[number];

const STAMP = '.build-stamp.json';

export function distDir(app: WebAppName): string {
  return join(WEB_ROOT, app, 'dist');
}

function listFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (name === 'dist' || name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listFiles(path, out);
    else out.push(path);
  }
  return out;
}

function toolchainVersion(pkg: string): string {
  const file = join(WEB_ROOT, '..', '..', 'node_modules', pkg, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : 'missing';
}

/** A hash of everything that goes into one app's bundle. */
export function inputHash(app: WebAppName): string {
  const hash = createHash('sha256');
  const files = [
    ...listFiles(join(WEB_ROOT, app)),
    ...listFiles(join(WEB_ROOT, 'shared', 'src')),
    fileURLToPath(import.meta.url),
  ];
  for (const file of files) {
    hash.update(relative(WEB_ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  hash.update(`vite@${toolchainVersion('vite')} preact@${toolchainVersion('preact')}`);
  return hash.digest('hex');
}

/** True when the app's bundle exists and was built from the current sources. */
export function isFresh(app: WebAppName): boolean {
  const stamp = join(distDir(app), STAMP);
  if (!existsSync(stamp) || !existsSync(join(distDir(app), 'index.html'))) return false;
  const recorded = (JSON.parse(readFileSync(stamp, 'utf8')) as { hash?: string }).hash;
  return recorded === inputHash(app);
}

export interface BuildReport {
  readonly app: WebAppName;
  readonly built: boolean;
  readonly ms: number;
}

export async function buildWebApps(options: { force?: boolean; apps?: readonly WebAppName[] } = {}): Promise<BuildReport[]> {
  const reports: BuildReport[] = [];
  for (const app of options.apps ?? WEB_APPS) {
    const started = performance.now();
    if (!options.force && isFresh(app)) {
      reports.push({ app, built: false, ms: performance.now() - started });
      continue;
    }
    const hash = inputHash(app);
    // Vite is loaded only when something must be built: a fresh start pays nothing for it.
    const { build } = await import('vite');
    await build({
      root: join(WEB_ROOT, app),
      base: `/${app}/`,
      configFile: false,
      logLevel: 'warn',
      publicDir: false,
      oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
      build: {
        outDir: distDir(app),
        emptyOutDir: true,
        target: 'es2022',
        reportCompressedSize: false,
        chunkSizeWarningLimit: 200,
      },
    });
    writeFileSync(join(distDir(app), STAMP), JSON.stringify({ hash, builtAt: new Date().toISOString() }) + '\n');
    reports.push({ app, built: true, ms: performance.now() - started });
  }
  return reports;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reports = await buildWebApps({ force: process.argv.includes('--force') });
  for (const r of reports) {
    console.log(`web ${r.app}: ${r.built ? `built in ${Math.round(r.ms)} ms` : 'up to date'} (${relative(process.cwd(), distDir(r.app))})`);
  }
}

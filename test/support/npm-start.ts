/**
 * `npm start` itself for whole-stack tests: the real entry point as a child process on a free
 * loopback port with a fresh data dir and no other configuration, stopped when the test ends.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePort } from '../../server/util/free-port.ts';

export interface NpmStart {
  readonly origin: string;
  readonly dataDir: string;
  /** Everything the process printed so far (banner and logs). */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Resolves once the banner is printed (bounded by tap's timeout; no timed assertion). */
export async function startNpmStart(t: Test, name: string): Promise<NpmStart> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `medrec-${name}-`));
  const child = spawn(process.execPath, ['server/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', MEDREC_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  t.teardown(stop);
  await new Promise<void>((resolve, reject) => {
    const check = () => (output.includes('MedRec-FHIR is up') ? resolve() : child.exitCode !== null ? reject(new Error(output)) : setTimeout(check, 100));
    check();
  });
  return { origin: `http://127.0.0.1:${port}`, dataDir, output: () => output, stop };
}

/**
 * `server/adapter-worker.ts` in a child process of its own, as it runs beside an EHR: its log
 * lines (pino JSON on stdout) are kept for the tests to read.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface WorkerProcess {
  /** Every stdout and stderr line so far. */
  readonly lines: string[];
  /** SIGTERM, resolves once the process has exited. */
  stop(): Promise<void>;
}

const ENTRY = fileURLToPath(new URL('../../../server/adapter-worker.ts', import.meta.url));
const SKEWED_CLOCK = fileURLToPath(new URL('./skewed-clock.ts', import.meta.url));

export interface WorkerProcessOptions {
  /** The process's clock runs this far off the real one (support/skewed-clock.ts). */
  readonly clockSkewMs?: number;
}

export async function startWorkerProcess(sourcesFile: string, redisUrl: string, dataDir: string, options: WorkerProcessOptions = {}): Promise<WorkerProcess> {
  const skew = options.clockSkewMs === undefined ? [] : ['--import', SKEWED_CLOCK];
  const child = spawn(process.execPath, [...skew, ENTRY, '--sources', sourcesFile, '--redis', redisUrl, '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info', MEDREC_TEST_CLOCK_SKEW_MS: String(options.clockSkewMs ?? 0) },
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    let buffered = '';
    const take = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (line.includes('adapter worker ready')) resolve();
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    void exited.then((code) => reject(new Error(`adapter worker exited (${code}) before it was ready:\n${lines.join('\n')}`)));
  });
  await ready;
  return {
    lines,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The adapter worker of `via: "queue"` sources: runs their real adapters (from the same sources
 * file as the server) and answers the calls the servers put on their `adapter-<id>` queues,
 * e.g. inside the hospital's network next to the EHR.
 *
 *   node server/adapter-worker.ts --sources sources.json --redis redis://queue-host:6379 [--source hosp …]
 *
 * Without `--source`, every `via: "queue"` source of the file. Each source's queue key (its
 * `queue.keyEnv`/`queue.keyFile`) must be the servers'. Stops cleanly on SIGINT/SIGTERM.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { AdapterQueueWorker } from '../adapters/queue/adapter-queue-worker.ts';
import type { SourceConfig } from '../adapters/source-config.ts';
import { ConfigError } from './config/config.ts';
import { readSourcesFile } from './config/sources-file.ts';

export interface AdapterWorkerOptions {
  readonly sources: readonly SourceConfig[];
  /** Source ids to serve; every `via: "queue"` source when empty. */
  readonly only?: readonly string[];
  readonly redisUrl: string;
  readonly dataDir: string;
  readonly log: FastifyBaseLogger;
}

export async function startAdapterWorkers(o: AdapterWorkerOptions): Promise<{ readonly workers: readonly AdapterQueueWorker[]; stop(): Promise<void> }> {
  const queued = o.sources.filter((s) => s.via === 'queue');
  const wanted = o.only && o.only.length > 0 ? o.only : queued.map((s) => s.id);
  const problems = wanted.filter((id) => !queued.some((s) => s.id === id)).map((id) => `--source ${id}: no "via": "queue" source with that id in the sources file`);
  if (wanted.length === 0) problems.push('the sources file has no "via": "queue" source');
  if (problems.length > 0) throw new ConfigError(problems);
  const workers: AdapterQueueWorker[] = [];
  const stop = async () => void (await Promise.allSettled(workers.map((w) => w.close())));
  try {
    for (const config of queued.filter((s) => wanted.includes(s.id))) {
      workers.push(await AdapterQueueWorker.start(config, { log: o.log, dataDir: o.dataDir, redisUrl: o.redisUrl }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { workers, stop };
}

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sources: { type: 'string' },
      redis: { type: 'string' },
      source: { type: 'string', multiple: true },
      'data-dir': { type: 'string' },
    },
  });
  const sourcesFile = values.sources ?? env.MEDREC_SOURCES;
  const redisUrl = values.redis ?? env.REDIS_URL;
  if (!sourcesFile || !redisUrl) throw new ConfigError(['give --sources <file> (or MEDREC_SOURCES) and --redis <url> (or REDIS_URL)']);
  const log = pino({ level: env.LOG_LEVEL ?? 'info' });
  const running = await startAdapterWorkers({
    sources: await readSourcesFile(resolve(sourcesFile)),
    only: values.source,
    redisUrl,
    dataDir: resolve(values['data-dir'] ?? env.MEDREC_DATA_DIR ?? '.medrec-data'),
    log,
  });
  log.info({ sources: running.workers.map((w) => w.sourceId) }, 'adapter worker ready');
  const shutdown = () => void running.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2), process.env).catch((err: unknown) => {
    const lines = err instanceof ConfigError ? err.problems : [(err as Error).message];
    for (const line of lines) process.stderr.write(`adapter-worker: ${line}\n`);
    process.exit(1);
  });
}

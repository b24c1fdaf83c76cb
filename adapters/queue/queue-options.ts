/**
 * The queue settings of a `via: "queue"` source, read the same way by the server and by the
 * adapter worker, so both ends agree on the queue, its Redis prefix and the sealing key:
 *
 *   { "id": "hosp", "kind": "fhir", …, "via": "queue",
 *     "queue": { "keyEnv": "MEDREC_QUEUE_KEY_HOSP", "prefix": "bull", "deadlineMs": 10000 } }
 *
 * The key (32 random bytes as 64 hex digits or base64, e.g. `openssl rand -hex 32`; from
 * `keyEnv` or `keyFile`) seals every call and result with AES-256-GCM: they carry local patient
 * ids and records, and Redis must never hold them in clear.
 */
import { readFileSync } from 'node:fs';
import type { SourceConfig } from '../source-config.ts';

export interface QueueSourceOptions {
  /** BullMQ queue name: `adapter-<source id>` (BullMQ names cannot hold `:`). */
  readonly queueName: string;
  /** BullMQ key prefix: keys read `<prefix>:adapter-<source id>:…`. */
  readonly prefix: string;
  readonly key: Buffer;
  /** A call not started by a worker within this long is dropped; a started one is aborted then. */
  readonly deadlineMs: number;
  /** How often the worker republishes the adapter's capabilities and the server reads them. */
  readonly capabilitiesRefreshMs: number;
  /** Calls one worker process runs at once. */
  readonly concurrency: number;
}

export class QueueSourceConfigError extends Error {
  constructor(sourceId: string, message: string) {
    super(`source ${sourceId} (via queue): ${message}`);
    this.name = 'QueueSourceConfigError';
  }
}

const KNOWN = new Set(['keyEnv', 'keyFile', 'prefix', 'deadlineMs', 'capabilitiesRefreshMs', 'concurrency']);
const KEY_USAGE = 'the queue key must be 32 random bytes as 64 hex digits or base64 (e.g. `openssl rand -hex 32`)';

export function queueNameOf(sourceId: string): string {
  return `adapter-${sourceId}`;
}

export function resolveQueueSource(config: SourceConfig, env: NodeJS.ProcessEnv = process.env): QueueSourceOptions {
  const fail = (message: string): never => {
    throw new QueueSourceConfigError(config.id, message);
  };
  const o = config.queue ?? {};
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) fail(`unknown queue option ${unknown.join(', ')} (${[...KNOWN].join(', ')})`);
  if ((o.keyEnv === undefined) === (o.keyFile === undefined)) fail('give exactly one of queue.keyEnv (an environment variable) or queue.keyFile (a file) holding the queue key');
  let text: string;
  if (o.keyEnv !== undefined) {
    if (typeof o.keyEnv !== 'string' || o.keyEnv === '') return fail('queue.keyEnv must name an environment variable');
    const value = env[o.keyEnv];
    if (value === undefined) return fail(`environment variable ${o.keyEnv} (queue.keyEnv) is not set`);
    text = value;
  } else {
    if (typeof o.keyFile !== 'string' || o.keyFile === '') return fail('queue.keyFile must be a file path');
    try {
      text = readFileSync(o.keyFile, 'utf8');
    } catch (err) {
      return fail(`cannot read queue.keyFile (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const key = parseKey(text.trim()) ?? fail(KEY_USAGE);
  const prefix = o.prefix ?? 'bull';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_{}-]{1,64}$/.test(prefix)) fail('queue.prefix must be 1-64 letters, digits, _ - { }');
  return {
    queueName: queueNameOf(config.id),
    prefix: prefix as string,
    key,
    deadlineMs: positiveInteger(o, 'deadlineMs', 10_000, fail),
    capabilitiesRefreshMs: positiveInteger(o, 'capabilitiesRefreshMs', 30_000, fail),
    concurrency: positiveInteger(o, 'concurrency', 8, fail),
  };
}

function parseKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

function positiveInteger(o: Readonly<Record<string, unknown>>, name: string, fallback: number, fail: (m: string) => never): number {
  const value = o[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return fail(`queue.${name} must be a whole number >= 1`);
  return value;
}

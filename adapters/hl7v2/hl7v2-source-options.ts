/**
 * Options of an `hl7v2` source (the `options` object of its SourceConfig), validated with
 * clear messages at start.
 *
 * ```json
 * { "id": "hl7-hospital", "kind": "hl7v2", "provider": "0x…", "name": "St. Luke's",
 *   "options": {
 *     "mllp": { "host": "0.0.0.0", "port": 2575, "tls": { "keyFile": "…", "certFile": "…", "caFile": "…" } },
 *     "fileDrop": { "dir": "/var/medrec/hl7-drop", "pollMs": 2000 },
 *     "store": { "kind": "postgres", "connectionString": "postgres://…/medrec", "schema": "hl7v2_st_lukes" },
 *     "timezone": "America/New_York",
 *     "processingIds": ["P"],
 *     "sampleFeed": "adapters/hl7v2/sample-feed/st-lukes.hl7" } }
 * ```
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { assertZone } from './hl7-datetime.ts';

/** MLLP over TLS, read from PEM files at start; with `caFile`, clients must present a certificate it signed. */
export interface MllpTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca?: Buffer;
  readonly requestCert?: boolean;
  readonly rejectUnauthorized?: boolean;
}

export type StoreOptions =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly schema: string };

export interface Hl7v2SourceOptions {
  /** MLLP listener; `false` for a node that only converts and serves (another node listens). */
  readonly mllp: false | { readonly host: string; readonly port: number; readonly tls?: MllpTls };
  readonly fileDrop?: { readonly dir: string; readonly pollMs: number };
  readonly store: StoreOptions;
  readonly timezone: string;
  readonly processingIds: readonly string[];
  readonly defaultCharset: 'utf8' | 'latin1';
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** Enhanced mode: how long an application ACK is awaited before it is given up (not sent). */
  readonly applicationAckTimeoutMs: number;
  readonly batchSize: number;
  /**
   * How often a node looks in the store for what nobody told it about: messages another node
   * accepted (without Redis), dead-letter replays, outcomes of application ACKs another node
   * converted. Work announced in the process or over Redis is taken at once.
   */
  readonly storePollMs: number;
  readonly notifyIntervalMs: number;
  /** Run the conversion worker in this process (default true). */
  readonly convert: boolean;
  /** Run the store and conversion in a worker thread, off the MLLP thread (default true; see threaded-store.ts). */
  readonly storeThread: boolean;
  /** A file of messages accepted at start (the embedded demo's feed); duplicates are ignored. */
  readonly sampleFeed?: string;
}

function fail(sourceId: string, message: string): never {
  throw new Error(`source ${sourceId}: ${message}`);
}

function obj(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function int(sourceId: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(sourceId, `options.${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function path(value: string): string {
  return isAbsolute(value) ? value : resolve(value);
}

export function parseHl7v2Options(sourceId: string, options: Readonly<Record<string, unknown>>, dataDir: string): Hl7v2SourceOptions {
  let mllp: Hl7v2SourceOptions['mllp'];
  if (options.mllp === false) mllp = false;
  else {
    const m = obj(options.mllp) ?? fail(sourceId, 'options.mllp must be { host?, port } or false');
    const host = m.host ?? '127.0.0.1';
    if (typeof host !== 'string' || host === '') fail(sourceId, 'options.mllp.host must be a host name or address');
    const port = int(sourceId, 'mllp.port', m.port, -1, 0, 65535);
    if (port < 0) fail(sourceId, 'options.mllp.port is required (0 picks a free port)');
    let tls: MllpTls | undefined;
    if (m.tls !== undefined) {
      const t = obj(m.tls) ?? fail(sourceId, 'options.mllp.tls must be { keyFile, certFile, caFile? }');
      const read = (name: string, value: unknown): Buffer => {
        if (typeof value !== 'string' || value === '') fail(sourceId, `options.mllp.tls.${name} must be a PEM file path`);
        try {
          return readFileSync(path(value));
        } catch {
          fail(sourceId, `options.mllp.tls.${name}: cannot read ${value}`);
        }
      };
      tls = {
        key: read('keyFile', t.keyFile),
        cert: read('certFile', t.certFile),
        ...(t.caFile !== undefined ? { ca: read('caFile', t.caFile), requestCert: true, rejectUnauthorized: true } : {}),
      };
    }
    mllp = { host, port, ...(tls ? { tls } : {}) };
  }

  let fileDrop: Hl7v2SourceOptions['fileDrop'];
  if (options.fileDrop !== undefined) {
    const f = obj(options.fileDrop) ?? fail(sourceId, 'options.fileDrop must be { dir, pollMs? }');
    if (typeof f.dir !== 'string' || f.dir === '') fail(sourceId, 'options.fileDrop.dir must be a directory path');
    fileDrop = { dir: path(f.dir), pollMs: int(sourceId, 'fileDrop.pollMs', f.pollMs, 2000, 50, 3_600_000) };
  }

  let store: StoreOptions;
  const s = obj(options.store) ?? { kind: 'sqlite' };
  if (s.kind === 'postgres') {
    if (typeof s.connectionString !== 'string' || s.connectionString === '') fail(sourceId, 'options.store.connectionString is required for postgres');
    const schema = s.schema ?? `hl7v2_${sourceId.replace(/-/g, '_')}`;
    if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) fail(sourceId, 'options.store.schema must match [a-z_][a-z0-9_]*');
    store = { kind: 'postgres', connectionString: s.connectionString, schema };
  } else if (s.kind === 'sqlite' || s.kind === undefined) {
    if (s.file !== undefined && (typeof s.file !== 'string' || s.file === '')) fail(sourceId, 'options.store.file must be a file path');
    store = { kind: 'sqlite', file: typeof s.file === 'string' ? path(s.file) : join(dataDir, 'hl7v2', `${sourceId}.sqlite`) };
  } else {
    fail(sourceId, 'options.store.kind must be sqlite or postgres');
  }

  const timezone = options.timezone ?? 'UTC';
  if (typeof timezone !== 'string') fail(sourceId, 'options.timezone must be an IANA zone name or +hh:mm');
  try {
    assertZone(timezone);
  } catch {
    fail(sourceId, `options.timezone ${timezone} is not a known time zone`);
  }
  const processingIds = options.processingIds ?? ['P'];
  if (!Array.isArray(processingIds) || !processingIds.every((p) => typeof p === 'string' && /^[A-Z]$/.test(p))) {
    fail(sourceId, 'options.processingIds must be a list of MSH-11 codes such as ["P"]');
  }
  const defaultCharset = options.defaultCharset ?? 'utf8';
  if (defaultCharset !== 'utf8' && defaultCharset !== 'latin1') fail(sourceId, 'options.defaultCharset must be utf8 or latin1');
  if (options.sampleFeed !== undefined && (typeof options.sampleFeed !== 'string' || options.sampleFeed === '')) {
    fail(sourceId, 'options.sampleFeed must be a file path');
  }
  if (options.convert !== undefined && typeof options.convert !== 'boolean') fail(sourceId, 'options.convert must be a boolean');
  if (options.storeThread !== undefined && typeof options.storeThread !== 'boolean') fail(sourceId, 'options.storeThread must be a boolean');

  return {
    mllp,
    ...(fileDrop ? { fileDrop } : {}),
    store,
    timezone,
    processingIds: processingIds as string[],
    defaultCharset,
    maxFrameBytes: int(sourceId, 'maxFrameBytes', options.maxFrameBytes, 16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    idleTimeoutMs: int(sourceId, 'idleTimeoutMs', options.idleTimeoutMs, 300_000, 1000, 86_400_000),
    maxConnections: int(sourceId, 'maxConnections', options.maxConnections, 64, 1, 10_000),
    applicationAckTimeoutMs: int(sourceId, 'applicationAckTimeoutMs', options.applicationAckTimeoutMs, 600_000, 1000, 86_400_000),
    batchSize: int(sourceId, 'batchSize', options.batchSize, 200, 1, 10_000),
    storePollMs: int(sourceId, 'storePollMs', options.storePollMs, 5000, 50, 600_000),
    notifyIntervalMs: int(sourceId, 'notifyIntervalMs', options.notifyIntervalMs, 1000, 10, 3_600_000),
    convert: options.convert !== false,
    storeThread: options.storeThread !== false,
    ...(typeof options.sampleFeed === 'string' ? { sampleFeed: path(options.sampleFeed) } : {}),
  };
}

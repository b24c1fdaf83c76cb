/**
 * Process configuration from environment variables, validated at start. Every problem is one
 * line naming the variable and what it should be; `loadConfig` reports all of them at once.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | PORT | 8080 | TCP port (0: any free port) |
 * | HOST | 0.0.0.0 | listen address |
 * | MEDREC_PUBLIC_URL | from each request's Host | public base URL of the server (links, fullUrls) |
 * | MEDREC_SOURCES | embedded demo sources | path of a JSON sources file (see sources-file.ts) |
 * | MEDREC_DATA_DIR | ./.medrec-data | directory for file-backed state |
 * | MEDREC_CURSOR_SECRET | random per process | ≥ 32 chars; seals paging cursors, keys digested ids; share it across replicas |
 * | MEDREC_SOURCE_TIMEOUT_MS | 5000 | per-source deadline of one call |
 * | MEDREC_BODY_LIMIT | 1048576 | largest request body in bytes |
 * | REDIS_URL | private redis-server child | Redis for queues and permission snapshots |
 * | LOG_LEVEL | info | pino level (fatal … trace, silent) |
 * | AUTHZ_MAX_LAG_BLOCKS | 2 | most blocks the permission indexes may trail the confirmed head by before requests get 503 |
 * | AUTHZ_MAX_HEAD_AGE_MS | 5000 | longest time without the follower reaching the chain before requests get 503 |
 * | AUTHZ_CONFIRMATIONS | 0 | blocks the follower stays behind the head (0 on QBFT: immediate finality) |
 * | MEDREC_DEPLOYMENT | embedded chain | deployment file of the MedRec network to follow (written by `medrec deploy`) |
 * | CHAIN_RPC_URL | the deployment file's `rpcUrl` | JSON-RPC URL of that network's chain (only with MEDREC_DEPLOYMENT) |
 * | CHAIN_WS_URL | none | WebSocket JSON-RPC URL: new blocks wake the follower early |
 */
import { resolve } from 'node:path';

export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly publicUrl?: string;
  readonly sourcesFile?: string;
  readonly dataDir: string;
  readonly cursorSecret?: string;
  readonly sourceTimeoutMs: number;
  readonly bodyLimit: number;
  readonly redisUrl?: string;
  readonly logLevel: string;
  /** Bounded staleness of the chain-backed permissions and the follower's finality depth. */
  readonly authz: { readonly maxLagBlocks: number; readonly maxHeadAgeMs: number; readonly confirmations: number };
  /** An existing MedRec network to follow; absent: the embedded chain. */
  readonly chain: { readonly deploymentFile?: string; readonly rpcUrl?: string; readonly wsUrl?: string };
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Readonly<Record<string, string | undefined>>): AppConfig {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${raw.slice(0, 40)}: must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(raw);
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = get(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error();
      return raw.replace(/\/$/, '');
    } catch {
      problems.push(`${name}=${raw.slice(0, 80)}: must be a ${protocols.join(' or ')} URL`);
      return undefined;
    }
  };

  const port = integer('PORT', 8080, 0, 65535);
  const host = get('HOST') ?? '0.0.0.0';
  const publicUrl = url('MEDREC_PUBLIC_URL', ['http:', 'https:']);
  const redisUrl = url('REDIS_URL', ['redis:', 'rediss:']);
  const sourcesFile = get('MEDREC_SOURCES');
  const dataDir = resolve(get('MEDREC_DATA_DIR') ?? '.medrec-data');
  const cursorSecret = get('MEDREC_CURSOR_SECRET');
  if (cursorSecret !== undefined && cursorSecret.length < 32) problems.push('MEDREC_CURSOR_SECRET: must be at least 32 characters');
  const sourceTimeoutMs = integer('MEDREC_SOURCE_TIMEOUT_MS', 5000, 10, 120_000);
  const bodyLimit = integer('MEDREC_BODY_LIMIT', 1_048_576, 1024, 104_857_600);
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL=${logLevel.slice(0, 20)}: must be one of ${LOG_LEVELS.join(', ')}`);
  const authz = {
    maxLagBlocks: integer('AUTHZ_MAX_LAG_BLOCKS', 2, 0, 100_000),
    maxHeadAgeMs: integer('AUTHZ_MAX_HEAD_AGE_MS', 5000, 100, 3_600_000),
    confirmations: integer('AUTHZ_CONFIRMATIONS', 0, 0, 1000),
  };
  const deploymentFile = get('MEDREC_DEPLOYMENT');
  const chain = { deploymentFile: deploymentFile ? resolve(deploymentFile) : undefined, rpcUrl: url('CHAIN_RPC_URL', ['http:', 'https:']), wsUrl: url('CHAIN_WS_URL', ['ws:', 'wss:']) };
  // Without a deployment the server would start its own demo chain and ignore the URL.
  if (get('CHAIN_RPC_URL') !== undefined && !deploymentFile) problems.push('CHAIN_RPC_URL: set MEDREC_DEPLOYMENT too (the deployment file naming the contracts on that chain)');
  if (problems.length > 0) throw new ConfigError(problems);
  return { port, host, publicUrl, sourcesFile: sourcesFile ? resolve(sourcesFile) : undefined, dataDir, cursorSecret, sourceTimeoutMs, bodyLimit, redisUrl, logLevel, authz, chain };
}

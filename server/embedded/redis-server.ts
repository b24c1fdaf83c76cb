/**
 * A private `redis-server` child process, for the embedded default (no `REDIS_URL`) and tests.
 * It listens on loopback only, on a free port, and its persistence (AOF) lives in `dir` when
 * given, so a restart on the same `dir` and port keeps every accepted job.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../util/free-port.ts';

export interface RedisServerOptions {
  /** Data directory; with it the server appends every write to an AOF file there. */
  readonly dir?: string;
  /** Fixed port (to restart a server where clients expect it); a free one otherwise. */
  readonly port?: number;
  readonly binary?: string;
  /** `always` fsyncs every write before replying (an ACK after it survives a crash); default `everysec`. */
  readonly fsync?: 'always' | 'everysec';
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Kills the process at once, as a crash would. */
  kill(): Promise<void>;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--protected-mode', 'yes'];
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true });
    args.push('--dir', options.dir, '--appendonly', 'yes', '--appendfsync', options.fsync ?? 'everysec');
  } else {
    args.push('--appendonly', 'no');
  }
  const child = spawn(options.binary ?? 'redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', () => (exited = true));

  for (let attempt = 0; ; attempt++) {
    if (exited) throw new Error(`redis-server exited at start: ${stderr.trim() || 'is redis-server installed?'}`);
    if (await accepts(port)) break;
    if (attempt > 200) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not accept connections on port ${port}`);
    }
    await sleep(25);
  }

  const terminate = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => terminate('SIGTERM', 5000),
    kill: () => terminate('SIGKILL', 0),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}


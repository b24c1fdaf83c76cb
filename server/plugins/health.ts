/**
 * `/healthz` (the process is alive) and `/readyz` (it can serve): every source's health and
 * any extra readiness checks other parts register (chain sync lag, Redis). Ready means no
 * required check is down and at least one source is not down; a down source makes the
 * answer `degraded` but still 200, since searches go on with a warning for it. Sources' health
 * is reused for a few seconds (it may cost each upstream a request).
 */
import type { FastifyInstance } from 'fastify';
import type { SourceHealth } from '../../adapters/ehr-adapter.ts';
import type { SourceDirectory } from '../fhir/source-directory.ts';

export interface ReadinessCheck {
  readonly name: string;
  check(signal: AbortSignal): Promise<SourceHealth>;
}

export interface HealthOptions {
  readonly sources: SourceDirectory;
  /** Checks that must be `up` or `degraded` for the process to be ready. */
  readonly checks?: readonly ReadinessCheck[];
  readonly timeoutMs?: number;
  /**
   * How long sources' health answers are reused (default 5 s): probes of an orchestrator every
   * second must not turn into a `/metadata` call per upstream per second.
   */
  readonly sourceHealthTtlMs?: number;
}

async function probe(name: string, timeoutMs: number, check: (signal: AbortSignal) => Promise<SourceHealth>): Promise<SourceHealth & { name: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const result = await Promise.race([
      check(signal),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true })),
    ]);
    return { name, ...result };
  } catch (err) {
    return { name, status: 'down', detail: signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message, checkedAt: new Date().toISOString() };
  }
}

export async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const ttlMs = options.sourceHealthTtlMs ?? 5000;
  // One probe round at a time, its answer shared by every request until it is `ttlMs` old.
  let sourceHealth: { at: number; result: Promise<Array<SourceHealth & { name: string }>> } | undefined;
  const sourcesHealth = () => {
    if (!sourceHealth || performance.now() - sourceHealth.at >= ttlMs) {
      sourceHealth = { at: performance.now(), result: Promise.all(options.sources.all().map((s) => probe(s.sourceId, timeoutMs, (signal) => s.adapter.health(signal)))) };
    }
    return sourceHealth.result;
  };
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const [sources, checks] = await Promise.all([
      sourcesHealth(),
      Promise.all((options.checks ?? []).map((c) => probe(c.name, timeoutMs, (signal) => c.check(signal)))),
    ]);
    const checksOk = checks.every((c) => c.status !== 'down');
    const someSource = sources.length === 0 || sources.some((s) => s.status !== 'down');
    const ready = checksOk && someSource;
    const degraded = [...sources, ...checks].some((c) => c.status !== 'up');
    reply.code(ready ? 200 : 503);
    return { status: ready ? (degraded ? 'degraded' : 'ready') : 'unavailable', sources, checks };
  });
}

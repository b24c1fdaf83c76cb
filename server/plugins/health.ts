/**
 * `/healthz` (the process is alive) and `/readyz` (it can serve): every source's health and
 * any extra readiness checks other parts register (chain sync lag, Redis). Ready means no
 * required check is down and at least one source is not down; a down source makes the
 * answer `degraded` but still 200, since searches go on with a warning for it.
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
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const [sources, checks] = await Promise.all([
      Promise.all(options.sources.all().map((s) => probe(s.sourceId, timeoutMs, (signal) => s.adapter.health(signal)))),
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

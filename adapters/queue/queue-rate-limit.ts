/**
 * A source's `rateLimit` with `enforcedBy: "queue"`, as the BullMQ limiter of its adapter queue:
 * at most `max` calls start per `duration` ms across every worker of the queue (the limiter
 * lives in Redis), which is `perSecond` sustained with bursts of `burst` (default
 * max(1, ⌈perSecond⌉)). The kind's own limiter (e.g. the FHIR adapter's token bucket) then stays off.
 */
import type { RateLimiterOptions } from 'bullmq';
import type { SourceConfig } from '../source-config.ts';
import { QueueSourceConfigError } from './queue-options.ts';

export function queueLimiter(config: SourceConfig): RateLimiterOptions | undefined {
  const value = config.options.rateLimit as { perSecond?: unknown; burst?: unknown; enforcedBy?: unknown } | undefined;
  if (typeof value !== 'object' || value === null || value.enforcedBy !== 'queue') return undefined;
  const { perSecond, burst } = value;
  if (typeof perSecond !== 'number' || !(perSecond > 0) || (burst !== undefined && !(typeof burst === 'number' && Number.isInteger(burst) && burst >= 1))) {
    throw new QueueSourceConfigError(config.id, 'rateLimit must be { perSecond: number > 0, burst?: whole number >= 1, enforcedBy: "queue" }');
  }
  const max = (burst as number | undefined) ?? Math.max(1, Math.ceil(perSecond));
  return { max, duration: Math.ceil((max * 1000) / perSecond) };
}

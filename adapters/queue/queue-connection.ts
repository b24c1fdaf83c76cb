/**
 * BullMQ connection options from a Redis URL (BullMQ needs `maxRetriesPerRequest: null`): the
 * adapter queues' and the authorization workers' alike.
 */
import type { ConnectionOptions } from 'bullmq';

export function queueConnection(redisUrl: string): ConnectionOptions {
  const u = new URL(redisUrl);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

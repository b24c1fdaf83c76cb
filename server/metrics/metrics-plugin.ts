/**
 * Fastify plugin: times every request by its route template (never the raw URL: ids would
 * explode the label space) and serves `GET /metrics` in Prometheus text format.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { MedrecMetrics } from './metrics.ts';

export interface MetricsPluginOptions {
  readonly metrics: MedrecMetrics;
  readonly path?: string;
}

const plugin: FastifyPluginAsync<MetricsPluginOptions> = async (app: FastifyInstance, options) => {
  const { metrics } = options;
  const path = options.path ?? '/metrics';
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === path) return;
    metrics.requestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get(path, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};

// Hooks must apply to the routes of the parent: the plugin is not encapsulated.
export const metricsPlugin = fp(plugin, { name: 'medrec-metrics', fastify: '5.x' });

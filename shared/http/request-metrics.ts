// Observes every request's duration by route and status, and logs it at debug (not twice at info).
import type { FastifyInstance } from 'fastify';
import type { Histogram } from 'prom-client';

export function installRequestMetrics(app: FastifyInstance, histogram: Histogram<'method' | 'route' | 'status'>): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    histogram.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    req.log.debug({ route, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
  });
}

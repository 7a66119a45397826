// Liveness, readiness and Prometheus metrics (outside /api/v1: no tenant header).
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../../../shared/http/errors.js';
import type { RouteOptions } from '../context.js';

export default async function healthRoutes(app: FastifyInstance, { ctx, isReady }: RouteOptions & { isReady: () => boolean }): Promise<void> {
  app.get('/health/live', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { summary: 'The node accepts traffic' } }, async (_req, reply) => {
    if (!isReady()) return reply.code(503).send(errorBody('not_ready', 'node is starting or shutting down'));
    return { status: 'ready', node_id: ctx.cfg.nodeId, open_tenants: ctx.tenants.openCount, replication: ctx.replicationState() };
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_req, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}

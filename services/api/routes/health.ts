// Liveness, readiness and Prometheus metrics (outside /api/v1: no tenant header).
import type { FastifyInstance } from 'fastify';
import { installAuth } from '../../../shared/http/auth.js';
import { errorBody } from '../../../shared/http/errors.js';
import type { RouteOptions } from '../context.js';

export default async function healthRoutes(app: FastifyInstance, { ctx, isReady }: RouteOptions & { isReady: () => boolean }): Promise<void> {
  app.get('/health/live', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { summary: 'The node accepts traffic' } }, async (_req, reply) => {
    if (!isReady()) return reply.code(503).send(errorBody('not_ready', 'node is starting or shutting down'));
    return { status: 'ready', node_id: ctx.cfg.nodeId, open_tenants: ctx.tenants.openCount, replication: ctx.replicationState() };
  });
  // open by default (Prometheus scrapes it); PERCOLATE_METRICS_AUTH=true puts it behind an admin token for every tenant
  await app.register(async (scope) => {
    if (ctx.cfg.auth.metricsAuth && ctx.auth?.verifier) {
      installAuth(scope, { verifier: ctx.auth.verifier, failures: ctx.metrics.access.authFailures, log: scope.log, tenantOf: () => undefined });
    }
    scope.get('/metrics', { config: { scope: 'admin' }, schema: { summary: 'Prometheus metrics' } }, async (_req, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    });
  });
}

// Liveness, readiness and Prometheus metrics (outside /api/v1: no tenant header).
import type { FastifyInstance } from 'fastify';
import { installAuth } from '../../../shared/http/auth.js';
import { errorBody } from '../../../shared/http/errors.js';
import { typed, type RouteOptions } from '../context.js';
import { drainTokenMatches } from '../drain-token.js';
import * as R from '../responses.js';
import { drainHeader } from '../schemas.js';

export default async function healthRoutes(scope: FastifyInstance, { ctx, isReady, drainToken }: RouteOptions & { isReady: () => boolean; drainToken: string }): Promise<void> {
  const app = typed(scope);
  app.get('/health/live', { schema: { summary: 'The process is up', response: { 200: R.liveAnswer } } }, async () => ({ status: 'ok' as const }));
  app.get(
    '/health/ready',
    { schema: { summary: 'The node accepts traffic', response: { 200: R.readyAnswer, 503: R.errorAnswer('not_ready: the node is starting or draining') } } },
    async (_req, reply) => {
      if (!isReady()) return reply.code(503).send(errorBody('not_ready', 'node is starting or shutting down'));
      return { status: 'ready' as const, node_id: ctx.cfg.nodeId, open_tenants: ctx.tenants.openCount, replication: ctx.replicationState() };
    },
  );
  // the preStop hook's drain: the token from <data>/drain.token, not a bearer token (see drain-token.ts)
  app.post(
    '/health/drain',
    {
      schema: {
        summary: 'Stop taking traffic, publish the outboxes and snapshot hot tenants (preStop)',
        headers: drainHeader,
        response: { 200: R.drainAnswer, 403: R.errorAnswer('drain_forbidden: X-Drain-Token is not the token of <data dir>/drain.token') },
      },
    },
    async (req, reply) => {
      if (!drainTokenMatches(drainToken, req.headers['x-drain-token'])) return reply.code(403).send(errorBody('drain_forbidden', 'the drain needs the token of <data dir>/drain.token in X-Drain-Token'));
      return ctx.drain();
    },
  );
  // open by default (Prometheus scrapes it); PERCOLATE_METRICS_AUTH=true puts it behind an admin token for every tenant
  await app.register(async (metrics) => {
    if (ctx.cfg.auth.metricsAuth && ctx.auth?.verifier) {
      installAuth(metrics, { verifier: ctx.auth.verifier, failures: ctx.metrics.access.authFailures, log: metrics.log, tenantOf: () => undefined });
    }
    typed(metrics).get('/metrics', { config: { scope: 'admin' }, schema: { summary: 'Prometheus metrics', response: { 200: R.metricsText } } }, async (_req, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    });
  });
}

// Liveness, readiness and Prometheus metrics (outside /api/v1: no tenant header).
import type { FastifyInstance } from 'fastify';
import { installAuth } from '../../../shared/http/auth.js';
import { errorBody } from '../../../shared/http/errors.js';
import type { RouteOptions } from '../context.js';
import { drainTokenMatches } from '../drain-token.js';
import * as R from '../responses.js';

export default async function healthRoutes(app: FastifyInstance, { ctx, isReady, drainToken }: RouteOptions & { isReady: () => boolean; drainToken: string }): Promise<void> {
  app.get('/health/live', { schema: { summary: 'The process is up', response: { 200: R.liveAnswer } } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { summary: 'The node accepts traffic' } }, async (_req, reply) => {
    if (!isReady()) return reply.code(503).send(errorBody('not_ready', 'node is starting or shutting down'));
    return { status: 'ready', node_id: ctx.cfg.nodeId, open_tenants: ctx.tenants.openCount, replication: ctx.replicationState() };
  });
  // the preStop hook's drain: the token from <data>/drain.token, not a bearer token (see drain-token.ts)
  app.post(
    '/health/drain',
    { schema: { summary: 'Stop taking traffic, publish the outboxes and snapshot hot tenants (preStop)', headers: { type: 'object', properties: { 'x-drain-token': { type: 'string', maxLength: 256 } } } } },
    async (req, reply) => {
      if (!drainTokenMatches(drainToken, req.headers['x-drain-token'])) return reply.code(403).send(errorBody('drain_forbidden', 'the drain needs the token of <data dir>/drain.token in X-Drain-Token'));
      return ctx.drain();
    },
  );
  // open by default (Prometheus scrapes it); PERCOLATE_METRICS_AUTH=true puts it behind an admin token for every tenant
  await app.register(async (scope) => {
    if (ctx.cfg.auth.metricsAuth && ctx.auth?.verifier) {
      installAuth(scope, { verifier: ctx.auth.verifier, failures: ctx.metrics.access.authFailures, log: scope.log, tenantOf: () => undefined });
    }
    scope.get('/metrics', { config: { scope: 'admin' }, schema: { summary: 'Prometheus metrics', response: { 200: R.metricsText } } }, async (_req, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    });
  });
}

// Liveness, readiness and Prometheus metrics routes for the gateway and the workers (a fastify plugin, no server).
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { errorBody } from './errors.js';

export interface OpsRoutesOptions {
  registry: Registry;
  isReady: () => boolean;
  /** Extra fields of the readiness answer. */
  readyInfo?: () => Record<string, unknown>;
}

export default async function opsRoutes(app: FastifyInstance, opts: OpsRoutesOptions): Promise<void> {
  app.get('/health/live', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { summary: 'The service accepts work' } }, async (_req, reply) => {
    if (!opts.isReady()) return reply.code(503).send(errorBody('not_ready', 'starting or shutting down'));
    return { status: 'ready', ...(opts.readyInfo?.() ?? {}) };
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
}

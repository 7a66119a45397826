// Liveness, readiness and Prometheus metrics routes for the gateway and the workers (a fastify plugin, no server).
// Health stays open (probes carry no token); /metrics is open too unless `metricsAuth` is given, which puts it behind
// an admin token for every tenant (`*`), as on the database node (PERCOLATE_METRICS_AUTH=true).
import type { FastifyInstance } from 'fastify';
import type { Counter, Registry } from 'prom-client';
import type { TokenVerifier } from '../auth/tokens.js';
import type { AuditLog } from './audit.js';
import { installAuth } from './auth.js';
import { errorBody } from './errors.js';
import { ERROR_ENVELOPE } from './openapi.js';

export interface OpsRoutesOptions {
  registry: Registry;
  isReady: () => boolean;
  /** Extra fields of the readiness answer. */
  readyInfo?: () => Record<string, unknown>;
  /** /metrics needs an admin `*` token verified by `verifier` (refusals counted in `failures`, audited on `log`). */
  metricsAuth?: { verifier: TokenVerifier; failures: Counter<'reason'>; log: AuditLog };
}

/** The answers, as documented in the service's OpenAPI document; readiness adds the service's own fields (readyInfo). */
const LIVE = { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', const: 'ok' } } } as const;
const READY = { type: 'object', additionalProperties: true, required: ['status'], properties: { status: { type: 'string', const: 'ready' } } } as const;
const METRICS = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } as const;

export default async function opsRoutes(app: FastifyInstance, opts: OpsRoutesOptions): Promise<void> {
  app.get('/health/live', { schema: { summary: 'The process is up', response: { 200: LIVE } } }, async () => ({ status: 'ok' }));
  // the 503's envelope inline, not by reference: the worker serves these routes without the shared Error schema
  const ready = { 200: READY, 503: { ...ERROR_ENVELOPE, description: 'not_ready: starting or shutting down' } };
  app.get('/health/ready', { schema: { summary: 'The service accepts work', response: ready } }, async (_req, reply) => {
    if (!opts.isReady()) return reply.code(503).send(errorBody('not_ready', 'starting or shutting down'));
    return { status: 'ready', ...(opts.readyInfo?.() ?? {}) };
  });
  await app.register(async (scope) => {
    const guard = opts.metricsAuth;
    // the route names no tenant: only a token for every tenant (`*`) passes
    if (guard) installAuth(scope, { verifier: guard.verifier, failures: guard.failures, log: guard.log, tenantOf: () => undefined });
    scope.get('/metrics', { config: { scope: 'admin' }, schema: { summary: 'Prometheus metrics', response: { 200: METRICS } } }, async (_req, reply) => {
      const body = await opts.registry.metrics();
      return reply.type(opts.registry.contentType).send(body);
    });
  });
}

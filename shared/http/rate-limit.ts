// Per-tenant request rates (@fastify/rate-limit): a tenant's reads and writes are counted apart in a fixed window,
// keyed by the tenant the request is for (after authentication, so another tenant cannot spend a tenant's budget with
// bad tokens). Beyond the limit: 429 rate_limited with Retry-After and the RateLimit-* headers, an audit line and a
// count. Limits are per node: a tenant lands on one node (tenant affinity), so they are close to global.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { requiredScope } from './auth.js';
import { audit, type AuditLog } from './audit.js';

export interface TenantRateLimits {
  readsMax: number;
  writesMax: number;
  windowMs: number;
  /** Tracked keys at most (tenants x 2); the least recently used is forgotten beyond. */
  keysMax?: number;
}

const isWrite = (req: FastifyRequest) => requiredScope(req) !== 'ro';

/** Registers the limits on `app` (a route-group scope, after its tenant and auth hooks). */
export async function installTenantRateLimit(app: FastifyInstance, l: TenantRateLimits, o: { counter: Counter<'kind'>; log: AuditLog }): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    timeWindow: l.windowMs,
    cache: l.keysMax ?? 100_000,
    keyGenerator: (req) => `${req.tenant}:${isWrite(req) ? 'w' : 'r'}`,
    max: (_req, key) => (key.endsWith(':w') ? l.writesMax : l.readsMax),
    enableDraftSpec: true,
    onExceeded: (req, key) => {
      const kind = key.endsWith(':w') ? 'write' : 'read';
      o.counter.inc({ kind });
      audit(o.log, 'rate_limited', { kind, tenant: req.tenant, sub: req.auth?.sub, route: req.routeOptions.url });
    },
    errorResponseBuilder: (req, ctx) => ({
      statusCode: 429,
      code: 'rate_limited',
      message: `tenant '${req.tenant}' sent more than ${ctx.max} ${isWrite(req) ? 'writes' : 'reads'} in ${Math.round(l.windowMs / 1000)} s; retry after ${ctx.after}`,
    }),
  });
}

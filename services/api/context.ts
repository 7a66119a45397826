// What every route plugin of the database node receives: configuration, the tenant manager, metrics, schemas.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { NodeConfig } from '../../shared/config/config.js';
import { tenantFromHeader } from '../../shared/http/tenant.js';
import type { NodeMetrics } from '../../shared/metrics/metrics.js';
import type { HybridLogicalClock } from '../../shared/rem/hlc.js';
import type { AuthSetup } from '../../shared/auth/setup.js';
import type { TenantManager } from '../../shared/store/tenant-manager.js';
import type { TenantStore } from '../../shared/store/tenant-store.js';
import type { Schemas } from './schemas.js';
import type { NodeLifecycle } from './lifecycle.js';

export interface ApiContext {
  cfg: NodeConfig;
  tenants: TenantManager;
  /** Snapshots, cold storage, durable operations and purges. */
  lifecycle: NodeLifecycle;
  metrics: NodeMetrics;
  schemas: Schemas;
  /** The node's clock (replicated ops are checked against its drift bound). */
  clock: HybridLogicalClock;
  /** Keys and the token verifier (undefined verifier: auth off). Set while the app is built. */
  auth?: AuthSetup;
  /** `standalone` without NATS; otherwise the replicator's connection state. */
  replicationState: () => string;
  /** Stops taking traffic (readiness 503), publishes outboxes, snapshots hot tenants (preStop, SIGTERM). */
  drain: () => Promise<DrainSummary>;
}

export interface DrainSummary {
  outbox_remaining: number;
  snapshots: number;
  snapshot_failures: number;
  timed_out: boolean;
}

export interface RouteOptions {
  ctx: ApiContext;
}

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
  interface FastifyInstance {
    ctx: ApiContext;
  }
}

/** The X-Tenant-ID check of every tenant-scoped route group (/api/v1 and the OpenAI-compatible /v1). */
export async function tenantHook(req: FastifyRequest): Promise<void> {
  req.tenant = tenantFromHeader(req.headers['x-tenant-id']);
}

/** Runs `fn` with the request's tenant store; `create` only for writes, so reads never create tenants. */
export function withStore<T>(ctx: ApiContext, req: FastifyRequest, create: boolean, fn: (store: TenantStore) => Promise<T>): Promise<T> {
  return ctx.tenants.use(req.tenant, create, fn);
}

/**
 * A route plugin's fastify with the TypeBox type provider: request and reply types come from the route's schemas
 * (services/api/schemas.ts, responses.ts), so handlers read `req.body`, `req.query` and `req.params` as validated.
 */
export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export function typed(app: FastifyInstance): ApiApp {
  return app.withTypeProvider<TypeBoxTypeProvider>();
}

/** The items of a batch body: `{"<field>": [...]}` or one bare object. */
export function batchItems<F extends string, T extends object>(body: Record<F, T[]> | T, field: F): T[] {
  return isBatch(body, field) ? body[field] : [body];
}

function isBatch<F extends string, T extends object>(body: Record<F, T[]> | T, field: F): body is Record<F, T[]> {
  return Array.isArray((body as Partial<Record<F, unknown>>)[field]);
}

export function elapsedMs(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e6;
}

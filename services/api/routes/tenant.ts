// /api/v1/tenant: the tenant's information and presence on this node, and its durable lifecycle operations
// (snapshot, offload to cold, restore, pin, unpin, purge), each answered 202 with an operation id to poll at
// /api/v1/operations/:id. Operations are tenant administration: scope admin.
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../shared/http/audit.js';
import type { OperationKind } from '../../../shared/lifecycle/operations.js';
import { RemError } from '../../../shared/rem/errors.js';
import { typed, withStore, type RouteOptions } from '../context.js';
import { operationParams } from '../schemas.js';
import * as R from '../responses.js';

const OPERATION_ROUTES: { path: string; kind: OperationKind; summary: string }[] = [
  { path: '/tenant/snapshot', kind: 'snapshot', summary: 'Take a snapshot of the tenant in object storage now' },
  { path: '/tenant/offload', kind: 'offload', summary: 'Make the tenant cold: snapshot it, then remove its local files' },
  { path: '/tenant/restore', kind: 'restore', summary: 'Bring the tenant to this node (hot) from its snapshot and the sync stream' },
  { path: '/tenant/pin', kind: 'pin', summary: 'Pin the tenant: it never goes below warm on this node' },
  { path: '/tenant/unpin', kind: 'unpin', summary: 'Unpin the tenant' },
];

const accepted = { 202: R.operationStarted } as const;

export default async function tenantRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  app.get('/tenant', { schema: { summary: 'Tenant information and presence (hot, warm or cold) on this node', response: { 200: R.tenantInfo } } }, async (req) => {
    const before = ctx.tenants.presence(req.tenant);
    // a cold tenant is described from its catalog entry and snapshot, not brought back by looking at it
    if (before?.state === 'cold') {
      return { tenant: req.tenant, counts: before.snapshot?.counts ?? null, memory_estimate_bytes: 0, ...before };
    }
    const info = await withStore(ctx, req, false, (store) => store.info());
    const now = ctx.tenants.presence(req.tenant);
    return { ...info, ...now, size_bytes: info.size_bytes, state: before?.state ?? now?.state ?? 'hot' };
  });

  for (const r of OPERATION_ROUTES) {
    app.post(r.path, { config: { scope: 'admin' }, schema: { summary: r.summary, response: accepted } }, async (req, reply) => {
      const op = await ctx.lifecycle.operations().start(r.kind, req.tenant);
      audit(req.log, 'tenant_operation', { tenant: req.tenant, sub: req.auth.sub, kind: r.kind, operation_id: op.id });
      return reply.code(202).send({ operation_id: op.id, kind: op.kind, status: op.status, status_url: `/api/v1/operations/${op.id}` });
    });
  }

  app.delete('/tenant', { config: { scope: 'admin' }, schema: { summary: 'Purge the tenant everywhere: every node, its S3 objects, job states and sync stream messages', response: accepted } }, async (req, reply) => {
    const op = await ctx.lifecycle.operations().start('purge', req.tenant);
    audit(req.log, 'tenant_purge', { tenant: req.tenant, sub: req.auth.sub, operation_id: op.id });
    return reply.code(202).send({ operation_id: op.id, kind: op.kind, status: op.status, status_url: `/api/v1/operations/${op.id}` });
  });

  app.get(
    '/operations/:id',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'A tenant operation: status (pending, running, completed, failed), steps with times, error and result',
        response: { 200: R.operation },
        params: operationParams,
      },
    },
    async (req) => {
      const { id } = req.params;
      const op = await ctx.lifecycle.operations().get(id);
      // another tenant's operation is not this tenant's business: not found, as an unknown id
      if (!op || op.tenant !== req.tenant) throw new RemError('not_found', `no operation ${id} for tenant '${req.tenant}'`);
      return op;
    },
  );
}

// Replication endpoints: the tenant digest (equal on converged replicas) and POST /sync, which applies ops in the
// stream's format through the same merge path as the applier (repair and bootstrap).
import type { FastifyInstance } from 'fastify';
import { RemError } from '../../../shared/rem/errors.js';
import { tenantDigest } from '../../../shared/replication/digest.js';
import { validateOp } from '../../../shared/replication/validate-op.js';
import { applyOps } from '../../../shared/store/apply.js';
import { withStore, type RouteOptions } from '../context.js';

export default async function syncRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/tenant/digest', { schema: { summary: 'Digest over record ids and versions (equal on converged replicas)' } }, async (req) =>
    withStore(ctx, req, false, (store) => tenantDigest(store)),
  );

  app.post(
    '/sync',
    {
      schema: {
        summary: 'Apply replication ops (repair, bootstrap)',
        body: {
          type: 'object',
          required: ['ops'],
          additionalProperties: false,
          properties: { ops: { type: 'array', minItems: 1, maxItems: ctx.cfg.batchSizeMax, items: { type: 'object' } } },
        },
      },
    },
    async (req) => {
      const { ops } = req.body as { ops: unknown[] };
      return withStore(ctx, req, true, async (store) => {
        const valid = ops.map((raw, i) => {
          try {
            const op = validateOp(raw, store.dimension);
            if (op.tenant !== req.tenant) throw new RemError('invalid_request', 'op.tenant must match X-Tenant-ID');
            return op;
          } catch (err) {
            throw new RemError('invalid_request', `ops[${i}]: ${(err as Error).message}`);
          }
        });
        const result = await store.writeLock.run(() => applyOps(store, valid, { local: false }));
        ctx.metrics.opsApplied.inc({ result: 'applied' }, result.applied);
        ctx.metrics.opsApplied.inc({ result: 'skipped' }, result.skipped);
        return { applied: result.applied, skipped: result.skipped, hlc_max: store.hlcMax ?? null };
      });
    },
  );
}

// Replication endpoints: the tenant digest (equal on converged replicas) and POST /sync, which applies ops in the
// stream's format through the same validation and merge path as the applier (repair and bootstrap).
import type { FastifyInstance } from 'fastify';
import { tenantDigest } from '../../../shared/store/digest.js';
import { OpRejected, validateOp } from '../../../shared/rem/validate-op.js';
import { storeOpRules } from '../../../shared/store/op-rules.js';
import { countReplicated } from '../../../shared/metrics/metrics.js';
import { audit } from '../../../shared/http/audit.js';
import { typed, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

export default async function syncRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  app.get('/tenant/digest', { schema: { summary: 'Digest over record ids and versions (equal on converged replicas)', response: { 200: R.digestAnswer } } }, async (req) =>
    withStore(ctx, req, false, (store) => tenantDigest(store)),
  );

  app.post(
    '/sync',
    {
      // replication repair and bootstrap: nodes and operators only
      config: { scope: 'admin' },
      schema: {
        summary: 'Apply replication ops (repair, bootstrap); an invalid op refuses the whole request with 400 invalid_op',
        response: { 200: R.syncAnswer },
        body: ctx.schemas.syncBody,
      },
    },
    async (req) => {
      const { ops } = req.body;
      // validated before the store is opened: a refused request must not create the tenant
      const rules = storeOpRules({ clock: ctx.clock, dimension: ctx.tenants.opts.embedder.dimension, limits: ctx.tenants.opts.limits });
      const valid = ops.map((raw, i) => {
        try {
          const op = validateOp(raw, rules);
          if (op.tenant !== req.tenant) throw new OpRejected('malformed', 'op.tenant must match X-Tenant-ID');
          return op;
        } catch (err) {
          if (!(err instanceof OpRejected)) throw err;
          if (err.reason === 'clock_drift') ctx.metrics.hlcRefused.inc({ source: 'sync' });
          throw new OpRejected(err.reason, `ops[${i}]: ${err.message}`);
        }
      });
      return withStore(ctx, req, true, async (store) => {
        const result = await store.applyReplicated(valid);
        // ops from before a purge of the tenant are obsolete: counted as skipped, never applied
        result.skipped += result.purged ?? 0;
        audit(req.log, 'sync_applied', { tenant: req.tenant, sub: req.auth.sub, ops: valid.length, applied: result.applied, skipped: result.skipped, origins: [...new Set(valid.map((o) => o.node))].slice(0, 10) });
        countReplicated(ctx.metrics, result);
        return { applied: result.applied, skipped: result.skipped, hlc_max: store.hlcMax ?? null };
      });
    },
  );
}

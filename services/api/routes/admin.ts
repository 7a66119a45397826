// /api/v1/admin: node administration across tenants, for operators with an admin token for every tenant (`*`):
// the tenants this node knows and their presence.
import type { FastifyInstance } from 'fastify';
import { typed, type RouteOptions } from '../context.js';
import * as R from '../responses.js';
import { tenantListQuery } from '../schemas.js';

export default async function adminRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  app.get(
    '/tenants',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Tenants this node knows, in id order, with their presence (state, pin, accesses, size, score, snapshot)',
        querystring: tenantListQuery,
        response: { 200: R.tenantListing },
      },
    },
    async (req) => {
      const q = req.query;
      return ctx.tenants.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
    },
  );
}

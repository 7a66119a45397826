// GET /api/v1/tenant: counts, size on disk, estimated memory while open (memory_estimate_bytes) and the embedder the
// tenant was written with.
import type { FastifyInstance } from 'fastify';
import { withStore, type RouteOptions } from '../context.js';

export default async function tenantRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/tenant', { schema: { summary: 'Tenant information' } }, async (req) => withStore(ctx, req, false, (store) => store.info()));
}

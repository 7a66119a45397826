// /api/v1/admin: node administration across tenants, for operators with an admin token for every tenant (`*`):
// the tenants this node knows and their presence.
import type { FastifyInstance } from 'fastify';
import { TENANT_ID_PATTERN } from '../../../shared/rem/tenant-id.js';
import type { RouteOptions } from '../context.js';

const LIST_LIMIT_MAX = 1000;

export default async function adminRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/tenants',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Tenants this node knows, in id order, with their presence (state, pin, accesses, size, score, snapshot)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: ['hot', 'warm', 'cold'] },
            limit: { type: 'integer', minimum: 1, maximum: LIST_LIMIT_MAX, default: 100 },
            cursor: { type: 'string', pattern: TENANT_ID_PATTERN.source },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { state?: 'hot' | 'warm' | 'cold'; limit: number; cursor?: string };
      return ctx.tenants.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
    },
  );
}

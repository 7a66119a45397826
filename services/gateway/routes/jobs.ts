// GET /jobs/:id: a job's status and progress, for the tenant that uploaded it only (others get 404).
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../../shared/http/errors.js';
import { JOB_ID_PATTERN, JOB_STAGES } from '../../../shared/jobs/types.js';
import type { GatewayRouteOptions } from '../context.js';

const NULLABLE_STRING = { type: ['string', 'null'] } as const;

export const jobStateSchema = {
  type: 'object',
  properties: {
    job_id: { type: 'string' },
    tier: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'processing', 'completed', 'failed'] },
    progress: {
      type: 'object',
      properties: {
        stage: { type: 'string', enum: [...JOB_STAGES] },
        chunks_total: { type: 'integer' },
        chunks_written: { type: 'integer' },
      },
    },
    resources: { type: 'integer' },
    entities: { type: 'integer' },
    error: NULLABLE_STRING,
    attempts: { type: 'integer' },
    file: {
      type: 'object',
      properties: {
        uri: { type: 'string' },
        filename: { type: 'string' },
        kind: { type: 'string' },
        size_bytes: { type: 'integer' },
        sha256: { type: 'string' },
      },
    },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

export default async function jobRoutes(app: FastifyInstance, { ctx }: GatewayRouteOptions): Promise<void> {
  app.get(
    '/jobs/:id',
    {
      schema: {
        summary: "A job's status and progress",
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: JOB_ID_PATTERN.source } } },
        response: { 200: jobStateSchema },
      },
      // reading a job's status is a read: a ro token will do
      config: { scope: 'ro' },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const state = await ctx.jobs.get(req.tenant, id);
      if (!state) throw new HttpError(404, 'not_found', `job ${id} not found`);
      return state;
    },
  );
}

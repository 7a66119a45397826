// GET /jobs/:id: a job's status and progress, for the tenant that uploaded it only (others get 404).
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { HttpError } from '../../../shared/http/errors.js';
import { FILE_KINDS } from '../../../shared/ingest/detect.js';
import { JOB_ID_PATTERN, JOB_STAGES } from '../../../shared/jobs/types.js';
import type { GatewayRouteOptions } from '../context.js';

/**
 * A job as its tenant sees it. The stored state also holds the tenant and the file's bucket and key: they are not
 * listed, so the serialiser leaves them out of the answer (additionalProperties false).
 */
export const jobStateSchema = Type.Object(
  {
    job_id: Type.String(),
    tier: Type.String(),
    status: Type.Enum(['queued', 'processing', 'completed', 'failed'], { type: 'string' }),
    progress: Type.Object(
      { stage: Type.Enum(JOB_STAGES, { type: 'string' }), chunks_total: Type.Integer(), chunks_written: Type.Integer() },
      { additionalProperties: false },
    ),
    resources: Type.Integer({ description: 'resources (chunks) written, once completed' }),
    entities: Type.Integer({ description: 'entities written, once completed' }),
    error: Type.Union([Type.String(), Type.Null()]),
    attempts: Type.Integer({ description: 'deliveries so far (1 on the first attempt)' }),
    file: Type.Object(
      {
        uri: Type.String({ description: 's3://<bucket>/<key>: the uri of every resource made from the file' }),
        filename: Type.String(),
        kind: Type.Enum(FILE_KINDS, { type: 'string' }),
        size_bytes: Type.Integer(),
        sha256: Type.String(),
      },
      { additionalProperties: false },
    ),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { additionalProperties: false, description: "the job's status and progress" },
);

export type JobStateAnswer = Static<typeof jobStateSchema>;

export const jobParams = Type.Object({ id: Type.String({ pattern: JOB_ID_PATTERN.source }) });

export default async function jobRoutes(scope: FastifyInstance, { ctx }: GatewayRouteOptions): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/jobs/:id',
    {
      schema: {
        summary: "A job's status and progress",
        params: jobParams,
        response: { 200: jobStateSchema },
      },
      // reading a job's status is a read: a ro token will do
      config: { scope: 'ro' },
    },
    async (req) => {
      const { id } = req.params;
      const state = await ctx.jobs.get(req.tenant, id);
      if (!state) throw new HttpError(404, 'not_found', `job ${id} not found`);
      return state;
    },
  );
}

// /api/v1/resources: write, read, delete, search (with `query`) and list in uri order (without).
import type { FastifyInstance } from 'fastify';
import type { Resource, ResourceInput } from '../../../shared/rem/types.js';
import { searchBounded, type SearchMode } from '../../../shared/search/search.js';
import { RESPONSE_BYTES_BOUND } from '../../../shared/rem/byte-budget.js';
import { listResources, putResources } from '../../../shared/store/resources.js';
import { recordRoutes, sendCreated } from './record-routes.js';
import { batchItems, elapsedMs, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

export default async function resourceRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const s = ctx.schemas;

  app.post(
    '/resources',
    { schema: { summary: 'Upsert resources (1..batch max)', body: s.resourceBatch, response: { 201: s.idsResponse } } },
    async (req, reply) => {
      const inputs = batchItems<ResourceInput>(req.body, 'resources');
      const ids = await withStore(ctx, req, true, (store) => putResources(store, inputs, { quota: ctx.cfg.quotas }));
      ctx.metrics.writes.inc({ kind: 'resources', op: 'put' }, ids.length);
      return sendCreated(req, reply, ids);
    },
  );

  recordRoutes(app, ctx, 'resources', 'resource');


  app.get(
    '/resources',
    {
      schema: {
        summary: 'Search resources (with query) or list them in uri order (without)',
        response: { 200: R.listAnswer },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            query: { type: 'string', minLength: 1, maxLength: 4096 },
            limit: s.limit,
            mode: s.mode,
            uri_prefix: { type: 'string', maxLength: 2048 },
            cursor: { type: 'string', maxLength: 8192 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { query?: string; limit: number; mode: SearchMode; uri_prefix?: string; cursor?: string };
      const started = process.hrtime.bigint();
      if (q.query === undefined) {
        const page = await withStore(ctx, req, false, (store) =>
          listResources(store, { uriPrefix: q.uri_prefix, cursor: q.cursor, limit: q.limit }),
        );
        return {
          results: page.items,
          next_cursor: page.next_cursor,
          ...(page.truncated ? { truncated: true, bound: RESPONSE_BYTES_BOUND } : {}),
          took_ms: elapsedMs(started),
        };
      }
      const answer = await withStore(ctx, req, false, (store) =>
        searchBounded(store, {
          query: q.query!,
          kinds: ['resources'],
          mode: q.mode,
          limit: q.limit,
          filters: q.uri_prefix !== undefined ? { uri_prefix: q.uri_prefix } : undefined,
        }),
      );
      const tookMs = elapsedMs(started);
      ctx.metrics.searchDuration.observe({ mode: q.mode }, tookMs / 1000);
      const results = answer.hits.map((h) => {
        const r = h.record as Resource;
        return { id: r.id, uri: r.uri, name: r.name, content: r.content, chunk_ordinal: r.chunk_ordinal, metadata: r.metadata, score: h.score };
      });
      return { results, mode: q.mode, ...(answer.truncated ? { truncated: true, bound: RESPONSE_BYTES_BOUND } : {}), took_ms: tookMs };
    },
  );
}

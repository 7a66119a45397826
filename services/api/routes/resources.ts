// /api/v1/resources: write, read, delete, search (with `query`) and list in uri order (without).
import type { FastifyInstance } from 'fastify';
import type { Resource } from '../../../shared/rem/types.js';
import { searchBounded } from '../../../shared/search/search.js';
import { RESPONSE_BYTES_BOUND } from '../../../shared/rem/byte-budget.js';
import { listResources, putResources } from '../../../shared/store/resources.js';
import { recordRoutes, sendCreated } from './record-routes.js';
import { batchItems, elapsedMs, typed, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

export default async function resourceRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const s = ctx.schemas;

  app.post(
    '/resources',
    { schema: { summary: 'Upsert resources (1..batch max)', body: s.resourceBatch, response: { 201: R.written } } },
    async (req, reply) => {
      const inputs = batchItems(req.body, 'resources');
      const ids = await withStore(ctx, req, true, (store) => putResources(store, inputs, { quota: ctx.cfg.quotas }));
      ctx.metrics.writes.inc({ kind: 'resources', op: 'put' }, ids.length);
      return sendCreated(req, reply, ids);
    },
  );

  recordRoutes(app, ctx, 'resources', 'resource', R.resource);

  app.get(
    '/resources',
    {
      schema: {
        summary: 'Search resources (with query) or list them in uri order (without)',
        response: { 200: R.resourceAnswer },
        querystring: s.resourceQuery,
      },
    },
    async (req) => {
      const q = req.query;
      const started = process.hrtime.bigint();
      const query = q.query;
      if (query === undefined) {
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
          query,
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

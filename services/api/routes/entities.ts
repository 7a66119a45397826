// /api/v1/entities: merge-upserts, lookup by natural key, fuzzy match, neighbourhood traversal, delete.
import type { FastifyInstance } from 'fastify';
import { ByteBudget, RESPONSE_BYTES_BOUND } from '../../../shared/rem/byte-budget.js';
import { invalid } from '../../../shared/rem/errors.js';
import { fuzzyEntities, lookupEntitiesBounded, neighbors, putEntities } from '../../../shared/store/entities.js';
import { recordRoutes, sendCreated } from './record-routes.js';
import { batchItems, elapsedMs, typed, withStore, type RouteOptions } from '../context.js';
import { idParams } from '../schemas.js';
import * as R from '../responses.js';

export default async function entityRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const s = ctx.schemas;

  app.post(
    '/entities',
    { schema: { summary: 'Upsert entities (properties and edges merge)', body: s.entityBatch, response: { 201: R.written } } },
    async (req, reply) => {
      const inputs = batchItems(req.body, 'entities');
      const ids = await withStore(ctx, req, true, (store) => putEntities(store, inputs, { quota: ctx.cfg.quotas }));
      ctx.metrics.writes.inc({ kind: 'entities', op: 'put' }, ids.length);
      return sendCreated(req, reply, ids);
    },
  );

  recordRoutes(app, ctx, 'entities', 'entity', R.entity);

  app.get(
    '/entities',
    {
      schema: {
        summary: 'Look up entities by natural key (key, type) or fuzzy text (fuzzy)',
        response: { 200: R.entityAnswer },
        querystring: s.entityQuery,
      },
    },
    async (req) => {
      const q = req.query;
      const started = process.hrtime.bigint();
      const { key, fuzzy } = q;
      if (key !== undefined) {
        const found = await withStore(ctx, req, false, (store) => lookupEntitiesBounded(store, key, q.type, q.limit));
        return { results: found.entities, ...(found.truncated ? { truncated: true, bound: RESPONSE_BYTES_BOUND } : {}), took_ms: elapsedMs(started) };
      }
      if (fuzzy !== undefined) {
        const { hits, truncated, bound } = await withStore(ctx, req, false, (store) =>
          fuzzyEntities(store, fuzzy, { limit: q.limit, threshold: q.threshold }),
        );
        const results = hits.map((h) => ({ ...h.entity, score: h.score, match: h.match, matched: h.matched }));
        return { results, truncated, ...(bound ? { bound } : {}), took_ms: elapsedMs(started) };
      }
      throw invalid('pass key (with optional type) or fuzzy');
    },
  );

  app.get(
    '/entities/:id/neighbors',
    {
      schema: {
        summary: 'Breadth-first neighbourhood of an entity',
        params: idParams,
        querystring: s.neighborQuery,
        response: { 200: R.neighborhood },
      },
    },
    async (req) => {
      const { id } = req.params;
      const q = req.query;
      const started = process.hrtime.bigint();
      // the answer stays within the response budget (less room for took_ms and the envelope); edges are capped by
      // store.limits.traversalEdgesMax; `bound` says which bound stopped a truncated walk
      const bytes = new ByteBudget(ctx.cfg.responseBytesMax - 256);
      const n = await withStore(ctx, req, false, (store) =>
        neighbors(store, id, { depth: q.depth, direction: q.direction, rel: q.rel, nodesMax: q.limit, bytes }),
      );
      return { ...n, took_ms: elapsedMs(started) };
    },
  );
}

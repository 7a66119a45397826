// POST /api/v1/search: ranked results across resources, entities and moments.
import type { FastifyInstance } from 'fastify';
import { checkEmbedding } from '../../../shared/rem/validate.js';
import { searchBounded } from '../../../shared/search/search.js';
import { RESPONSE_BYTES_BOUND } from '../../../shared/rem/byte-budget.js';
import { elapsedMs, typed, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

export default async function searchRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  app.post('/search', { config: { scope: 'ro' }, schema: { summary: 'Search across kinds', body: ctx.schemas.searchBody, response: { 200: R.searchAnswer } } }, async (req) => {
    const b = req.body;
    const started = process.hrtime.bigint();
    const answer = await withStore(ctx, req, false, (store) => {
      const vector = b.vector ? checkEmbedding(b.vector, store.dimension, 'vector') : undefined;
      return searchBounded(store, { query: b.query, vector, kinds: b.kinds, mode: b.mode, limit: b.limit, filters: b.filters, ef: b.ef });
    });
    const tookMs = elapsedMs(started);
    ctx.metrics.searchDuration.observe({ mode: b.mode }, tookMs / 1000);
    return { results: answer.hits, mode: b.mode, ...(answer.truncated ? { truncated: true, bound: RESPONSE_BYTES_BOUND } : {}), took_ms: tookMs };
  });
}

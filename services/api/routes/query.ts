// POST /api/v1/query: the REM query dialect (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT, EXPLAIN) over one tenant.
import type { FastifyInstance } from 'fastify';
import type { QueryBounds } from '../../../shared/query/bounds.js';
import { runQuery } from '../../../shared/query/index.js';
import { elapsedMs, typed, withStore, type ApiContext, type RouteOptions } from '../context.js';
import * as R from '../responses.js';
import { queryBody } from '../schemas.js';

export function queryBounds(ctx: ApiContext): QueryBounds {
  return {
    rowsScannedMax: ctx.cfg.query.rowsScannedMax,
    traversalNodesMax: ctx.cfg.traversalNodesMax,
    rowsReturnedMax: ctx.cfg.searchLimitMax,
    timeMsMax: ctx.cfg.query.timeMsMax,
    stepMsMax: ctx.cfg.query.stepMsMax,
    responseBytesMax: ctx.cfg.responseBytesMax,
  };
}

export default async function queryRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const bounds = queryBounds(ctx);
  app.post(
    '/query',
    {
      // the dialect only reads
      config: { scope: 'ro' },
      schema: {
        summary: 'Run a REM query (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT; EXPLAIN shows the plan)',
        response: { 200: R.queryAnswer },
        body: queryBody,
      },
    },
    async (req) => {
      const b = req.body;
      const started = process.hrtime.bigint();
      const r = await withStore(ctx, req, false, (store) => runQuery(store, b.query, b.params ?? [], bounds));
      // the executor's rows are projections (open objects), its results the records of the statement's kind
      return {
        ...(r.rows ? { rows: r.rows as Record<string, unknown>[] } : {}),
        ...(r.results ? { results: r.results as NonNullable<R.QueryAnswer['results']> } : {}),
        ...(r.edges ? { edges: r.edges } : {}),
        plan: r.plan,
        ...(r.explain ? {} : { stats: r.stats, truncated: r.truncated, ...(r.bound ? { bound: r.bound } : {}) }),
        took_ms: elapsedMs(started),
      };
    },
  );
}

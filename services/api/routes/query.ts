// POST /api/v1/query: the REM query dialect (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT, EXPLAIN) over one tenant.
import type { FastifyInstance } from 'fastify';
import type { QueryBounds } from '../../../shared/query/bounds.js';
import { runQuery } from '../../../shared/query/index.js';
import { QUERY_CHARS_MAX } from '../../../shared/query/lexer.js';
import { elapsedMs, withStore, type ApiContext, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

const SCALAR = { type: ['string', 'number', 'boolean', 'null'] } as const;

export function queryBounds(ctx: ApiContext): QueryBounds {
  return {
    rowsScannedMax: ctx.cfg.query.rowsScannedMax,
    traversalNodesMax: ctx.cfg.traversalNodesMax,
    rowsReturnedMax: ctx.cfg.searchLimitMax,
    timeMsMax: ctx.cfg.query.timeMsMax,
    responseBytesMax: ctx.cfg.responseBytesMax,
  };
}

export default async function queryRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const bounds = queryBounds(ctx);
  app.post(
    '/query',
    {
      // the dialect only reads
      config: { scope: 'ro' },
      schema: {
        summary: 'Run a REM query (LOOKUP, FUZZY, SEARCH, TRAVERSE, SELECT; EXPLAIN shows the plan)',
        response: { 200: R.queryAnswer },
        body: {
          type: 'object',
          required: ['query'],
          additionalProperties: false,
          properties: {
            query: { type: 'string', minLength: 1, maxLength: QUERY_CHARS_MAX },
            params: { type: 'array', maxItems: 100, items: { anyOf: [SCALAR, { type: 'array', maxItems: 1000, items: SCALAR }] } },
          },
        },
      },
    },
    async (req) => {
      const b = req.body as { query: string; params?: unknown[] };
      const started = process.hrtime.bigint();
      const r = await withStore(ctx, req, false, (store) => runQuery(store, b.query, b.params ?? [], bounds));
      const body: Record<string, unknown> = {};
      if (r.rows) body.rows = r.rows;
      if (r.results) body.results = r.results;
      if (r.edges) body.edges = r.edges;
      body.plan = r.plan;
      if (!r.explain) {
        body.stats = r.stats;
        body.truncated = r.truncated;
        if (r.bound) body.bound = r.bound;
      }
      body.took_ms = elapsedMs(started);
      return body;
    },
  );
}

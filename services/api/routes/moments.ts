// /api/v1/moments: upserts, newest-first listing with time, type and tag filters, read, delete.
import type { FastifyInstance } from 'fastify';
import { parseTime } from '../../../shared/rem/validate.js';
import { listMoments, putMoments } from '../../../shared/store/moments.js';
import { recordRoutes, sendCreated } from './record-routes.js';
import { batchItems, elapsedMs, typed, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

export default async function momentRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  const s = ctx.schemas;

  app.post(
    '/moments',
    { schema: { summary: 'Upsert moments', body: s.momentBatch, response: { 201: R.written } } },
    async (req, reply) => {
      const inputs = batchItems(req.body, 'moments');
      const ids = await withStore(ctx, req, true, (store) => putMoments(store, inputs, { quota: ctx.cfg.quotas }));
      ctx.metrics.writes.inc({ kind: 'moments', op: 'put' }, ids.length);
      return sendCreated(req, reply, ids);
    },
  );

  app.get(
    '/moments',
    {
      schema: {
        summary: 'Moments newest first',
        response: { 200: R.momentPage },
        querystring: s.momentQuery,
      },
    },
    async (req) => {
      const q = req.query;
      const started = process.hrtime.bigint();
      const fromMs = q.from !== undefined ? parseTime(q.from, 'from') : undefined;
      const toMs = q.to !== undefined ? parseTime(q.to, 'to') : undefined;
      const page = await withStore(ctx, req, false, (store) =>
        listMoments(store, { fromMs, toMs, type: q.type, tag: q.tag, limit: q.limit, cursor: q.cursor }),
      );
      return {
        results: page.items,
        next_cursor: page.next_cursor,
        truncated: page.truncated,
        ...(page.bound ? { bound: page.bound } : {}),
        took_ms: elapsedMs(started),
      };
    },
  );

  recordRoutes(app, ctx, 'moments', 'moment', R.moment);
}

// GET and DELETE of one record by id, the same for every kind: one factory instead of three copies.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RemError } from '../../../shared/rem/errors.js';
import type { RemKind, RemRecord } from '../../../shared/rem/types.js';
import { deleteLocal } from '../../../shared/store/whole-records.js';
import { audit } from '../../../shared/http/audit.js';
import { withStore, type ApiApp, type ApiContext } from '../context.js';
import * as R from '../responses.js';
import { idParams } from '../schemas.js';

/**
 * The 201 of a batch upsert: `{ids, count}`, and for a single record `Location: <this path>/<id>` (RFC 9110), the URL
 * of its GET. A batch of several has no one location: clients read `ids`.
 */
export function sendCreated(req: FastifyRequest, reply: { header(name: string, value: string): unknown; code(status: 201): { send(body: R.Written): FastifyReply } }, ids: string[]): FastifyReply {
  if (ids.length === 1) void reply.header('location', `${req.url.split('?')[0]!.replace(/\/+$/, '')}/${encodeURIComponent(ids[0]!)}`);
  return reply.code(201).send({ ids, count: ids.length });
}

/**
 * `GET /<kind>/:id` (200 with the record, 404) and `DELETE /<kind>/:id` (204, 404); `noun` names one in messages,
 * `record` is the kind's answer schema.
 */
export function recordRoutes(app: ApiApp, ctx: ApiContext, kind: RemKind, noun: string, record: typeof R.resource | typeof R.entity | typeof R.moment): void {
  const article = /^[aeiou]/.test(noun) ? 'an' : 'a';
  app.get(`/${kind}/:id`, { schema: { summary: `Get ${article} ${noun}`, params: idParams, response: { 200: record } } }, async (req) => {
    const { id } = req.params;
    const r = await withStore(ctx, req, false, (store) => store.get<RemRecord>(kind, id));
    if (!r) throw new RemError('not_found', `${noun} ${id} not found`);
    return r;
  });

  app.delete(`/${kind}/:id`, { schema: { summary: `Delete ${article} ${noun}`, params: idParams, response: { 204: R.noContent } } }, async (req, reply) => {
    const { id } = req.params;
    const deleted = await withStore(ctx, req, false, (store) => deleteLocal(store, kind, id));
    if (!deleted) throw new RemError('not_found', `${noun} ${id} not found`);
    ctx.metrics.writes.inc({ kind, op: 'delete' });
    audit(req.log, 'record_delete', { tenant: req.tenant, sub: req.auth.sub, kind, id });
    return reply.code(204).send(null);
  });
}

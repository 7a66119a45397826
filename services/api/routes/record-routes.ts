// GET and DELETE of one record by id, the same for every kind: one factory instead of three copies.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RemError } from '../../../shared/rem/errors.js';
import type { RemKind } from '../../../shared/rem/types.js';
import { deleteLocal } from '../../../shared/store/whole-records.js';
import { audit } from '../../../shared/http/audit.js';
import { withStore, type ApiContext } from '../context.js';
import { idParams } from '../schemas.js';

const RECORD = { type: 'object', additionalProperties: true } as const;

/**
 * The 201 of a batch upsert: `{ids, count}`, and for a single record `Location: <this path>/<id>` (RFC 9110), the URL
 * of its GET. A batch of several has no one location: clients read `ids`.
 */
export function sendCreated(req: FastifyRequest, reply: FastifyReply, ids: string[]): FastifyReply {
  if (ids.length === 1) void reply.header('location', `${req.url.split('?')[0]!.replace(/\/+$/, '')}/${encodeURIComponent(ids[0]!)}`);
  return reply.code(201).send({ ids, count: ids.length });
}

/** `GET /<kind>/:id` (200 with the record, 404) and `DELETE /<kind>/:id` (204, 404); `noun` names one in messages. */
export function recordRoutes(app: FastifyInstance, ctx: ApiContext, kind: RemKind, noun: string): void {
  const article = /^[aeiou]/.test(noun) ? 'an' : 'a';
  app.get(`/${kind}/:id`, { schema: { summary: `Get ${article} ${noun}`, params: idParams, response: { 200: RECORD } } }, async (req) => {
    const { id } = req.params as { id: string };
    const r = await withStore(ctx, req, false, (store) => store.get(kind, id));
    if (!r) throw new RemError('not_found', `${noun} ${id} not found`);
    return r;
  });

  app.delete(`/${kind}/:id`, { schema: { summary: `Delete ${article} ${noun}`, params: idParams } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const deleted = await withStore(ctx, req, false, (store) => deleteLocal(store, kind, id));
    if (!deleted) throw new RemError('not_found', `${noun} ${id} not found`);
    ctx.metrics.writes.inc({ kind, op: 'delete' });
    audit(req.log, 'record_delete', { tenant: req.tenant, sub: req.auth.sub, kind, id });
    return reply.code(204).send();
  });
}

// /api/v1/schemas/:type: the tenant's entity schemas (JSON Schema for properties, key field, indexed and embedded
// fields). Adding one builds its secondary indexes from the stored entities; deleting one drops them.
import type { FastifyInstance } from 'fastify';
import { RemError } from '../../../shared/rem/errors.js';
import { audit } from '../../../shared/http/audit.js';
import { typed, withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';
import { schemaPutBody, typeParams } from '../schemas.js';

export default async function schemaRoutes(scope: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = typed(scope);
  app.put(
    '/schemas/:type',
    {
      // a schema governs every write of its type: tenant administration
      config: { scope: 'admin' },
      schema: {
        summary: 'Add or replace the schema of an entity type (builds its indexes from existing entities)',
        params: typeParams,
        body: schemaPutBody,
        // 201 when the type had no schema, 200 when one was replaced
        response: { 200: R.schemaPut, 201: R.schemaPut },
      },
    },
    async (req, reply) => {
      const { type } = req.params;
      const input = req.body;
      const { created, result } = await withStore(ctx, req, true, async (store) => {
        const registry = store.schemas;
        const created = registry.get(type) === undefined;
        return { created, result: await registry.put(type, input) };
      });
      audit(req.log, 'schema_put', { tenant: req.tenant, sub: req.auth.sub, type, created, indexed: result.indexed, violations: result.violations });
      return reply.code(created ? 201 : 200).send({ ...result.schema, indexed: result.indexed, violations: result.violations, violation_samples: result.violation_samples });
    },
  );

  app.get('/schemas', { schema: { summary: 'Every entity schema of the tenant', response: { 200: R.schemaList } } }, async (req) => {
    const schemas = await withStore(ctx, req, false, async (store) => store.schemas.list());
    return { schemas };
  });

  app.get('/schemas/:type', { schema: { summary: 'The schema of an entity type', params: typeParams, response: { 200: R.entitySchema } } }, async (req) => {
    const { type } = req.params;
    const def = await withStore(ctx, req, false, async (store) => store.schemas.get(type));
    if (!def) throw new RemError('not_found', `no schema for entity type '${type}'`);
    return def;
  });

  app.delete(
    '/schemas/:type',
    { config: { scope: 'admin' }, schema: { summary: 'Remove the schema of an entity type and its indexes', params: typeParams, response: { 204: R.noContent } } },
    async (req, reply) => {
      const { type } = req.params;
      const deleted = await withStore(ctx, req, false, (store) => store.schemas.delete(type));
      if (!deleted) throw new RemError('not_found', `no schema for entity type '${type}'`);
      audit(req.log, 'schema_delete', { tenant: req.tenant, sub: req.auth.sub, type });
      return reply.code(204).send(null);
    },
  );
}

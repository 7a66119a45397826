// /api/v1/schemas/:type: the tenant's entity schemas (JSON Schema for properties, key field, indexed and embedded
// fields). Adding one builds its secondary indexes from the stored entities; deleting one drops them.
import type { FastifyInstance } from 'fastify';
import { RemError } from '../../../shared/rem/errors.js';
import { FIELD_PATH, INDEXED_FIELDS_MAX, type SchemaInput } from '../../../shared/store/schema-registry.js';
import { audit } from '../../../shared/http/audit.js';
import { withStore, type RouteOptions } from '../context.js';
import * as R from '../responses.js';

const typeParams = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const FIELD = { type: 'string', pattern: FIELD_PATH.source, maxLength: 512 } as const;

export default async function schemaRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.put(
    '/schemas/:type',
    {
      // a schema governs every write of its type: tenant administration
      config: { scope: 'admin' },
      schema: {
        summary: 'Add or replace the schema of an entity type (builds its indexes from existing entities)',
        params: typeParams,
        body: {
          type: 'object',
          required: ['schema'],
          additionalProperties: false,
          properties: {
            schema: { type: 'object', additionalProperties: true },
            key_field: FIELD,
            indexed_fields: { type: 'array', maxItems: INDEXED_FIELDS_MAX, uniqueItems: true, items: FIELD },
            embedding_fields: { type: 'array', maxItems: 64, uniqueItems: true, items: FIELD },
          },
        },
      },
    },
    async (req, reply) => {
      const { type } = req.params as { type: string };
      const input = req.body as SchemaInput;
      const { created, result } = await withStore(ctx, req, true, async (store) => {
        const registry = store.schemas;
        const created = registry.get(type) === undefined;
        return { created, result: await registry.put(type, input) };
      });
      audit(req.log, 'schema_put', { tenant: req.tenant, sub: req.auth.sub, type, created, indexed: result.indexed, violations: result.violations });
      return reply.code(created ? 201 : 200).send({ ...result.schema, indexed: result.indexed, violations: result.violations, violation_samples: result.violation_samples });
    },
  );

  app.get('/schemas', { schema: { summary: 'Every entity schema of the tenant', response: { 200: R.schemasList } } }, async (req) => {
    const schemas = await withStore(ctx, req, false, async (store) => store.schemas.list());
    return { schemas };
  });

  app.get('/schemas/:type', { schema: { summary: 'The schema of an entity type', params: typeParams } }, async (req) => {
    const { type } = req.params as { type: string };
    const def = await withStore(ctx, req, false, async (store) => store.schemas.get(type));
    if (!def) throw new RemError('not_found', `no schema for entity type '${type}'`);
    return def;
  });

  app.delete('/schemas/:type', { config: { scope: 'admin' }, schema: { summary: 'Remove the schema of an entity type and its indexes', params: typeParams } }, async (req, reply) => {
    const { type } = req.params as { type: string };
    const deleted = await withStore(ctx, req, false, (store) => store.schemas.delete(type));
    if (!deleted) throw new RemError('not_found', `no schema for entity type '${type}'`);
    audit(req.log, 'schema_delete', { tenant: req.tenant, sub: req.auth.sub, type });
    return reply.code(204).send();
  });
}

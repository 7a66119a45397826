// The OpenAPI documents of the database node and the gateway, as client generators read them: valid
// (@apidevtools/swagger-parser), lint-clean (Redocly's recommended rules), every operation with an operationId, a tag,
// a documented success answer and the Error schema for 4XX/5XX, the tenant header and the token declared; and real
// answers of the node conform to the schemas documented for them (Ajv, JSON Schema 2020-12 as OpenAPI 3.1 says).
import SwaggerParser from '@apidevtools/swagger-parser';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';

type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };
type Operation = { operationId?: string; tags?: string[]; security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> };

let node: TestNode;
let stack: IngestStack;
let nodeDoc: Doc;
let gatewayDoc: Doc;

beforeAll(async () => {
  node = await startNode();
  nodeDoc = (await node.call('GET', '/openapi.json', { tenant: null })).body as Doc;
  stack = await startIngestStack({ worker: false });
  gatewayDoc = (await (await fetch(`${stack.gatewayUrl}/openapi.json`)).json()) as Doc;
}, 60_000);
afterAll(async () => {
  await node?.close();
  await stack?.close();
});

const operations = (doc: Doc) => Object.entries(doc.paths).flatMap(([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ path, method, op })));

describe.each([
  ['database node', () => nodeDoc],
  ['gateway', () => gatewayDoc],
])('the %s document', (_name, doc) => {
  it('is valid OpenAPI 3.1 and lints clean with the recommended rules', async () => {
    expect(doc().openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc()) as never)).resolves.toBeTruthy();
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: JSON.stringify(doc()), absoluteRef: 'openapi.json', config });
    expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });

  it('gives every operation a unique operationId, a tag, a success answer and the Error schema for 4XX and 5XX', () => {
    const ops = operations(doc());
    expect(ops.length).toBeGreaterThan(2);
    const ids = ops.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id)), JSON.stringify(ids)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, op } of ops) {
      const where = `${method} ${path}`;
      expect(op.tags?.length, where).toBeGreaterThan(0);
      expect(Object.keys(op.responses).some((s) => /^2/.test(s)), where).toBe(true);
      for (const s of ['4XX', '5XX']) expect(op.responses[s]?.content?.['application/json']?.schema, `${where} ${s}`).toEqual({ $ref: '#/components/schemas/Error' });
      // a DELETE answers 204 with no body, or 202 when it starts an operation (the tenant's purge)
      if (method === 'delete') expect(op.responses['204'] ?? op.responses['202'], where).toBeDefined();
    }
    expect(doc().components.securitySchemes).toMatchObject({ bearer: { type: 'http', scheme: 'bearer' }, tenant: { type: 'apiKey', in: 'header', name: 'X-Tenant-ID' } });
  });
});

describe('real answers of the node conform to the documented schemas', () => {
  it('validates the answers of the main routes, success and error, against their documented schemas', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const errorSchema = JSON.stringify({ ...(nodeDoc.components.schemas.Error as object), $id: undefined });
    const check = async (method: string, path: string, docPath: string, body?: unknown, tenant: string | null = 'conform') => {
      const r = await node.call(method, path, { tenant, body });
      const responses = nodeDoc.paths[docPath]![method.toLowerCase()]!.responses;
      const documented = responses[String(r.status)] ?? responses[`${String(r.status)[0]}XX`];
      expect(documented, `${method} ${path} answered ${r.status}, which is not documented`).toBeDefined();
      const schema = documented!.content?.['application/json']?.schema ?? documented!.content?.['text/plain']?.schema;
      if (schema === undefined) return r; // 204: no body
      // the Error reference inlined: Ajv resolves no OpenAPI component paths
      const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('{"$ref":"#/components/schemas/Error"}', errorSchema)));
      expect(validate(r.body), `${method} ${path} ${r.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
      return r;
    };
    const written = await check('POST', '/api/v1/resources', '/api/v1/resources', { resources: [{ uri: 'doc://a', content: 'radium was discovered in 1898' }] });
    expect(written.status).toBe(201);
    const id = written.body.ids[0] as string;
    await check('GET', `/api/v1/resources/${id}`, '/api/v1/resources/{id}');
    await check('GET', '/api/v1/resources?query=radium', '/api/v1/resources');
    await check('GET', '/api/v1/resources', '/api/v1/resources');
    await check('POST', '/api/v1/search', '/api/v1/search', { query: 'radium' });
    await check('POST', '/api/v1/query', '/api/v1/query', { query: "SELECT * FROM resources WHERE uri = 'doc://a'" });
    await check('POST', '/api/v1/entities', '/api/v1/entities', { entities: [{ type: 'person', key: 'marie', name: 'Marie Curie' }] });
    await check('GET', '/api/v1/entities?key=marie', '/api/v1/entities');
    await check('POST', '/api/v1/moments', '/api/v1/moments', { moments: [{ summary: 'a talk about radium', start_time: '2024-03-05T10:00:00Z' }] });
    await check('GET', '/api/v1/moments', '/api/v1/moments');
    await check('GET', '/api/v1/tenant', '/api/v1/tenant');
    await check('GET', '/api/v1/tenant/digest', '/api/v1/tenant/digest');
    await check('GET', '/api/v1/schemas', '/api/v1/schemas');
    await check('POST', '/api/v1/chat', '/api/v1/chat', { messages: [{ role: 'user', content: 'When was radium discovered?' }] });
    await check('POST', '/v1/chat/completions', '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'When was radium discovered?' }] });
    await check('GET', '/v1/models', '/v1/models');
    await check('GET', '/health/live', '/health/live', undefined, null);
    const deleted = await check('DELETE', `/api/v1/resources/${id}`, '/api/v1/resources/{id}');
    expect(deleted.status).toBe(204);
    // errors: the shared envelope
    expect((await check('GET', `/api/v1/resources/${id}`, '/api/v1/resources/{id}')).status).toBe(404);
    expect((await check('POST', '/api/v1/resources', '/api/v1/resources', { resources: [{ uri: 'doc://b' }] })).status).toBe(400);
    expect((await check('GET', '/api/v1/tenant', '/api/v1/tenant', undefined, null)).status).toBe(400);
  });
});

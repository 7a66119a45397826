// The OpenAPI documents of the database node and the gateway, as client generators read them: valid
// (@apidevtools/swagger-parser), lint-clean (Redocly's recommended rules), every operation with an operationId, a tag,
// a documented success answer and the Error schema for 4XX/5XX, the tenant header and the token declared; and real
// answers of EVERY operation of both documents conform to the schemas documented for them (Ajv, JSON Schema 2020-12
// as OpenAPI 3.1 says). The answer schemas are exact (services/api/responses.ts): listings are sampled both small
// (serialised through the schema) and with 8 items or more (serialised in slices from the engine's objects, see
// shared/http/sliced-json.ts), so a field the engine returns that the schema does not list fails here, and the
// type-level checks below fail `tsc --noEmit` when an engine type gains a field its answer schema lacks.
import fs from 'node:fs/promises';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as R from '../services/api/responses.js';
import type { JobStateAnswer } from '../services/gateway/routes/jobs.js';
import type { Citation } from '../shared/chat/types.js';
import type { Operation as EngineOperation, OperationStep } from '../shared/lifecycle/operations.js';
import type { JobFile, JobState } from '../shared/jobs/types.js';
import type { QueryStats } from '../shared/query/bounds.js';
import type { Edge, Entity, Moment, Resource } from '../shared/rem/types.js';
import type { SearchHit } from '../shared/search/search.js';
import type { tenantDigest } from '../shared/store/digest.js';
import type { FuzzyHit, GraphEdge, Neighborhood } from '../shared/store/entities.js';
import type { EntitySchema, PutSchemaResult } from '../shared/store/schema-registry.js';
import type { SnapshotRef } from '../shared/store/tenant-catalog.js';
import type { TenantPresence } from '../shared/store/tenant-manager.js';
import type { TenantStore } from '../shared/store/tenant-store.js';
import type { DrainSummary } from '../services/api/context.js';
import { startNode, type TestNode } from './support/api.js';
import { startIngestStack, type IngestStack } from './support/ingest.js';
import { waitFor } from './support/wait.js';

// ------------------------------------------------------------------------------------------------ compile time

/** `true` when the answer type and the engine's have the same fields; otherwise the fields only one of them has. */
type SameFields<Answer, Engine> = [Exclude<keyof Answer, keyof Engine>, Exclude<keyof Engine, keyof Answer>] extends [never, never]
  ? true
  : { onlyInAnswer: Exclude<keyof Answer, keyof Engine>; onlyInEngine: Exclude<keyof Engine, keyof Answer> };

// each line fails `tsc --noEmit` when the engine's type and the documented answer differ in their fields
const answersHaveTheEngineFields: true[] = [
  true satisfies SameFields<R.Resource, Resource>,
  true satisfies SameFields<R.Entity, Entity>,
  true satisfies SameFields<R.Edge, Edge>,
  true satisfies SameFields<R.Moment, Moment>,
  true satisfies SameFields<R.EntityResult, Entity & Omit<FuzzyHit, 'entity'> & { depth: number }>,
  true satisfies SameFields<R.GraphEdge, GraphEdge>,
  true satisfies SameFields<Omit<R.Neighborhood, 'took_ms'>, Neighborhood>,
  true satisfies SameFields<R.SearchHit, SearchHit>,
  true satisfies SameFields<NonNullable<R.QueryAnswer['stats']>, QueryStats>,
  true satisfies SameFields<R.EntitySchema, EntitySchema>,
  true satisfies SameFields<R.SchemaPut, EntitySchema & Omit<PutSchemaResult, 'schema'>>,
  true satisfies SameFields<R.TenantInfo, Awaited<ReturnType<TenantStore['info']>> & TenantPresence>,
  true satisfies SameFields<R.TenantListing['tenants'][number], { tenant: string } & TenantPresence>,
  true satisfies SameFields<NonNullable<R.TenantListing['tenants'][number]['snapshot']>, SnapshotRef>,
  true satisfies SameFields<R.DigestAnswer, Awaited<ReturnType<typeof tenantDigest>>>,
  true satisfies SameFields<R.Operation, EngineOperation<string>>,
  true satisfies SameFields<R.Operation['steps'][number], OperationStep>,
  true satisfies SameFields<R.DrainAnswer, DrainSummary>,
  true satisfies SameFields<R.Citation, Citation>,
  // the job answer leaves out the tenant and the file's bucket and key on purpose (services/gateway/routes/jobs.ts)
  true satisfies SameFields<Omit<JobStateAnswer, 'file'>, Omit<JobState, 'tenant' | 'file'>>,
  true satisfies SameFields<JobStateAnswer['file'], Omit<JobFile, 'bucket' | 'key'>>,
];

// ------------------------------------------------------------------------------------------------ documents

type Media = Record<string, { schema: unknown }>;
type Operation = { operationId?: string; tags?: string[]; security?: unknown[]; responses: Record<string, { content?: Media }> };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };

let node: TestNode;
let stack: IngestStack;
let nodeDoc: Doc;
let gatewayDoc: Doc;

beforeAll(async () => {
  stack = await startIngestStack({ worker: false });
  // NATS and S3 of the stack: the lifecycle's operations (snapshot, offload, restore, purge) run for real
  node = await startNode({ PERCOLATE_NODE_ID: 'conform', PERCOLATE_NATS_URL: stack.nats.url, ...stack.s3.env, PERCOLATE_SNAPSHOTS: 'on', PERCOLATE_S3_REQUEST_TIMEOUT_MS: '1000' });
  await waitFor('node connected', async () => (await node.call('GET', '/health/ready', { tenant: null })).body.replication === 'connected');
  await waitFor('node operations', async () => (await node.call('GET', '/api/v1/operations/00000000000000000000000000', { tenant: 'probe' })).status === 404);
  nodeDoc = (await node.call('GET', '/openapi.json', { tenant: null })).body as Doc;
  gatewayDoc = (await (await fetch(`${stack.gatewayUrl}/openapi.json`)).json()) as Doc;
}, 120_000);
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

// ------------------------------------------------------------------------------------------------ conformance

interface Answer {
  status: number;
  contentType: string;
  body: any;
  text: string;
}

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  let body: unknown = text;
  if (contentType === 'application/json' && text) body = JSON.parse(text);
  return { status: res.status, contentType, body, text };
}

/**
 * Checks answers against a document: each answer's status must be documented for its operation (or its class,
 * 4XX/5XX), its media type among the documented ones, its JSON body valid against that schema. `checked` collects
 * the operations that had an answer checked.
 */
function conformance(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const errorSchema = JSON.stringify({ ...(doc.components.schemas.Error as object), $id: undefined });
  const checked = new Set<string>();
  return {
    checked,
    check(method: string, docPath: string, a: Answer, expectedStatus: number): Answer {
      const where = `${method} ${docPath}`;
      expect(a.status, `${where}: ${a.text.slice(0, 300)}`).toBe(expectedStatus);
      const responses = doc.paths[docPath]?.[method.toLowerCase()]?.responses;
      expect(responses, `${where} is not in the document`).toBeDefined();
      const documented = responses![String(a.status)] ?? responses![`${String(a.status)[0]}XX`];
      expect(documented, `${where} answered ${a.status}, which is not documented`).toBeDefined();
      checked.add(`${method.toUpperCase()} ${docPath}`);
      if (documented!.content === undefined) {
        expect(a.text, `${where} ${a.status} documents no body`).toBe('');
        return a;
      }
      const media = documented!.content[a.contentType];
      expect(media, `${where} ${a.status} answered ${a.contentType}, documented: ${Object.keys(documented!.content).join(', ')}`).toBeDefined();
      // the Error reference inlined: Ajv resolves no OpenAPI component paths
      const validate = ajv.compile(JSON.parse(JSON.stringify(media!.schema).replaceAll('{"$ref":"#/components/schemas/Error"}', errorSchema)));
      expect(validate(a.body), `${where} ${a.status}: ${JSON.stringify(validate.errors)} in ${a.text.slice(0, 500)}`).toBe(true);
      return a;
    },
    /** The operations of the document that no checked answer covered. */
    unchecked: () => operations(doc).map(({ method, path }) => `${method.toUpperCase()} ${path}`).filter((k) => !checked.has(k)),
  };
}

async function nodeCall(method: string, url: string, o: { tenant?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const tenant = o.tenant === undefined ? 'conform' : o.tenant;
  const headers: Record<string, string> = { ...(tenant === null ? {} : { 'x-tenant-id': tenant }), ...(o.headers ?? {}) };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  return answerOf(await fetch(node.url + url, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) }));
}

/** 8 or more items: the answer is serialised in slices from the engine's own objects, not through the schema. */
const MANY = 9;

describe('real answers conform to the documented schemas', () => {
  it('checks an answer of every operation of the node, listings both small and large', async () => {
    const { check, unchecked } = conformance(nodeDoc);
    const c = async (method: string, url: string, docPath: string, status: number, o: Parameters<typeof nodeCall>[2] = {}) =>
      check(method, docPath, await nodeCall(method, url, o), status);

    // records of every kind, enough for sliced answers
    const resources = Array.from({ length: MANY }, (_, i) => ({ uri: `doc://radium/${i}`, content: `radium note ${i}: discovered in 1898`, metadata: { n: i }, ...(i === 0 ? { source: { job: 'j' } } : {}) }));
    const written = await c('POST', '/api/v1/resources', '/api/v1/resources', 201, { body: { resources } });
    const rid = written.body.ids[0] as string;
    await c('GET', `/api/v1/resources/${rid}`, '/api/v1/resources/{id}', 200);
    for (const limit of [2, MANY]) {
      expect((await c('GET', `/api/v1/resources?limit=${limit}`, '/api/v1/resources', 200)).body.results).toHaveLength(limit);
      expect((await c('GET', `/api/v1/resources?query=radium&limit=${limit}`, '/api/v1/resources', 200)).body.results).toHaveLength(limit);
    }
    const marie = (await c('POST', '/api/v1/entities', '/api/v1/entities', 201, {
      body: { type: 'person', key: 'marie', name: 'Marie Curie', aliases: ['Maria'], properties: { born: 1867 }, edges: Array.from({ length: MANY }, (_, i) => ({ rel: 'studied', to: { type: 'element', key: `element ${i}` }, weight: 0.5 })) },
    })).body.ids[0] as string;
    await c('POST', '/api/v1/entities', '/api/v1/entities', 201, { body: { entities: Array.from({ length: MANY }, (_, i) => ({ type: `kind${i}`, key: 'curie', name: `Curie ${i}` })) } });
    await c('GET', `/api/v1/entities/${marie}`, '/api/v1/entities/{id}', 200);
    expect((await c('GET', '/api/v1/entities?key=marie', '/api/v1/entities', 200)).body.results).toHaveLength(1);
    expect((await c('GET', '/api/v1/entities?key=curie', '/api/v1/entities', 200)).body.results).toHaveLength(MANY);
    expect((await c('GET', '/api/v1/entities?fuzzy=curie&limit=3', '/api/v1/entities', 200)).body.results).toHaveLength(3);
    expect((await c('GET', '/api/v1/entities?fuzzy=curie', '/api/v1/entities', 200)).body.results.length).toBeGreaterThanOrEqual(MANY);
    expect((await c('GET', `/api/v1/entities/${marie}/neighbors?limit=3`, '/api/v1/entities/{id}/neighbors', 200)).body.nodes).toHaveLength(3);
    expect((await c('GET', `/api/v1/entities/${marie}/neighbors`, '/api/v1/entities/{id}/neighbors', 200)).body.nodes).toHaveLength(MANY + 1);
    const moments = Array.from({ length: MANY }, (_, i) => ({ summary: `a talk about radium ${i}`, start_time: `2024-03-0${i + 1}T10:00:00Z`, ...(i === 0 ? { end_time: '2024-03-01T11:00:00Z', tags: ['talk'], people: ['marie'] } : {}) }));
    const mid = (await c('POST', '/api/v1/moments', '/api/v1/moments', 201, { body: { moments } })).body.ids[0] as string;
    await c('GET', `/api/v1/moments/${mid}`, '/api/v1/moments/{id}', 200);
    expect((await c('GET', '/api/v1/moments?limit=2', '/api/v1/moments', 200)).body.results).toHaveLength(2);
    expect((await c('GET', `/api/v1/moments?limit=${MANY}`, '/api/v1/moments', 200)).body.results).toHaveLength(MANY);

    // search and the query dialect
    expect((await c('POST', '/api/v1/search', '/api/v1/search', 200, { body: { query: 'radium', limit: 3 } })).body.results).toHaveLength(3);
    expect((await c('POST', '/api/v1/search', '/api/v1/search', 200, { body: { query: 'radium curie', limit: 20 } })).body.results.length).toBeGreaterThanOrEqual(MANY);
    for (const query of [
      "SELECT * FROM resources WHERE uri = 'doc://radium/0'",
      'SELECT * FROM resources',
      'SELECT count(*) FROM moments',
      "LOOKUP 'curie'",
      "FUZZY 'curie'",
      "SEARCH 'radium' IN resources",
      "TRAVERSE FROM 'marie' DEPTH 1",
      'EXPLAIN SELECT uri FROM resources',
    ]) {
      await c('POST', '/api/v1/query', '/api/v1/query', 200, { body: { query } });
    }

    // schemas: created (201), replaced (200), read, listed, deleted
    const schema = { schema: { type: 'object', properties: { born: { type: 'integer' } } }, indexed_fields: ['born'] };
    await c('PUT', '/api/v1/schemas/person', '/api/v1/schemas/{type}', 201, { body: schema });
    expect((await c('PUT', '/api/v1/schemas/person', '/api/v1/schemas/{type}', 200, { body: { ...schema, key_field: 'born' } })).body.indexed).toBe(1);
    await c('GET', '/api/v1/schemas/person', '/api/v1/schemas/{type}', 200);
    await c('GET', '/api/v1/schemas', '/api/v1/schemas', 200);
    await c('DELETE', '/api/v1/schemas/person', '/api/v1/schemas/{type}', 204);

    // chat, whole and streamed, native and OpenAI-compatible
    const question = [{ role: 'user', content: 'When was radium discovered?' }];
    await c('POST', '/api/v1/chat', '/api/v1/chat', 200, { body: { messages: question } });
    const streamed = await c('POST', '/api/v1/chat', '/api/v1/chat', 200, { body: { messages: question, stream: true } });
    expect(streamed.contentType).toBe('text/event-stream');
    await c('POST', '/v1/chat/completions', '/v1/chat/completions', 200, { body: { model: 'm', messages: question } });
    expect((await c('POST', '/v1/chat/completions', '/v1/chat/completions', 200, { body: { model: 'm', messages: question, stream: true } })).text).toContain('data: [DONE]');
    await c('GET', '/v1/models', '/v1/models', 200);

    // replication: the digest and a /sync op (a delete of a record that never was)
    await c('GET', '/api/v1/tenant/digest', '/api/v1/tenant/digest', 200);
    const hlc = `${String(Date.now()).padStart(15, '0')}.000000.peer`;
    const op = { v: 1, op_id: `${hlc}#0`, tenant: 'conform', node: 'peer', hlc, mutations: [{ type: 'delete', kind: 'resources', id: 'a'.repeat(32) }] };
    await c('POST', '/api/v1/sync', '/api/v1/sync', 200, { body: { ops: [op] } });

    // the tenant and its lifecycle operations, each followed to its end
    await c('GET', '/api/v1/tenant', '/api/v1/tenant', 200);
    const runOperation = async (method: string, url: string, tenant = 'conform') => {
      const started = await c(method, url, url, 202, { tenant });
      const id = started.body.operation_id as string;
      await waitFor(`${url} of ${tenant}`, async () => {
        const r = await nodeCall('GET', `/api/v1/operations/${id}`, { tenant });
        return r.body.status === 'completed' || r.body.status === 'failed' ? r : undefined;
      });
      const done = await c('GET', `/api/v1/operations/${id}`, '/api/v1/operations/{id}', 200, { tenant });
      expect(done.body.status, JSON.stringify(done.body)).toBe('completed');
    };
    await runOperation('POST', '/api/v1/tenant/snapshot');
    await runOperation('POST', '/api/v1/tenant/pin');
    await runOperation('POST', '/api/v1/tenant/unpin');
    await runOperation('POST', '/api/v1/tenant/offload');
    // a cold tenant is described from its snapshot: counts with tombstones, no embedder
    const cold = (await c('GET', '/api/v1/tenant', '/api/v1/tenant', 200)).body;
    expect(cold).toMatchObject({ state: 'cold', counts: { tombstones: expect.any(Number) } });
    expect(cold).not.toHaveProperty('embedder');
    await c('GET', '/api/v1/admin/tenants', '/api/v1/admin/tenants', 200, { tenant: null });
    await runOperation('POST', '/api/v1/tenant/restore');
    await c('POST', '/api/v1/resources', '/api/v1/resources', 201, { tenant: 'purged', body: { uri: 'doc://gone', content: 'soon gone' } });
    await runOperation('DELETE', '/api/v1/tenant', 'purged');

    // deletes, then the errors: the shared envelope
    await c('DELETE', `/api/v1/resources/${rid}`, '/api/v1/resources/{id}', 204);
    await c('DELETE', `/api/v1/entities/${marie}`, '/api/v1/entities/{id}', 204);
    await c('DELETE', `/api/v1/moments/${mid}`, '/api/v1/moments/{id}', 204);
    await c('GET', `/api/v1/resources/${rid}`, '/api/v1/resources/{id}', 404);
    await c('POST', '/api/v1/resources', '/api/v1/resources', 400, { body: { resources: [{ uri: 'doc://b' }] } });
    await c('GET', '/api/v1/tenant', '/api/v1/tenant', 400, { tenant: null });

    // the node's own routes; the drain last (the node stops being ready)
    await c('GET', '/health/live', '/health/live', 200, { tenant: null });
    await c('GET', '/health/ready', '/health/ready', 200, { tenant: null });
    expect((await c('GET', '/metrics', '/metrics', 200, { tenant: null })).text).toContain('percolate_');
    await c('POST', '/health/drain', '/health/drain', 403, { tenant: null, headers: { 'x-drain-token': 'f'.repeat(64) } });
    const token = (await fs.readFile(path.join(node.dataDir, 'drain.token'), 'utf8')).trim();
    await c('POST', '/health/drain', '/health/drain', 200, { tenant: null, headers: { 'x-drain-token': token } });
    await c('GET', '/health/ready', '/health/ready', 503, { tenant: null });

    expect(unchecked()).toEqual([]);
  }, 120_000);

  it('checks an answer of every operation of the gateway', async () => {
    const { check, unchecked } = conformance(gatewayDoc);
    const g = async (url: string) => answerOf(await fetch(stack.gatewayUrl + url));
    const form = new FormData();
    form.append('file', new Blob(['# Radium\n\nDiscovered in 1898 by Marie and Pierre Curie.\n']), 'radium.md');
    const uploaded = check('POST', '/upload', await answerOf(await fetch(`${stack.gatewayUrl}/upload`, { method: 'POST', body: form, headers: { 'x-tenant-id': 'conform' } })), 202);
    // no worker runs here: the job stays queued
    const job = check('GET', '/jobs/{id}', await answerOf(await fetch(`${stack.gatewayUrl}${uploaded.body.status_url}`, { headers: { 'x-tenant-id': 'conform' } })), 200);
    expect(job.body).toMatchObject({ status: 'queued', file: { filename: 'radium.md', kind: 'markdown' } });
    expect(job.body).not.toHaveProperty('tenant');
    check('GET', '/jobs/{id}', await answerOf(await fetch(`${stack.gatewayUrl}${uploaded.body.status_url}`, { headers: { 'x-tenant-id': 'other' } })), 404);
    check('GET', '/health/live', await g('/health/live'), 200);
    check('GET', '/health/ready', await g('/health/ready'), 200);
    expect(check('GET', '/metrics', await g('/metrics'), 200).text).toContain('percolate_');
    expect(unchecked()).toEqual([]);
  });
});

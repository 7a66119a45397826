// One tenant must not be able to freeze, poison or crash the node for the others. Each test sends what a hostile
// tenant would (through the public routes or POST /sync), to a node in its own process, and asserts a clear 4xx or
// a bounded answer, and that meanwhile /health/live answered within 250 ms and another tenant's searches succeeded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/dataset.js';
import { entityId, resourceId } from '../shared/rem/ids.js';
import { hlcWallMs } from '../shared/rem/hlc.js';
import { probeWhile, seedQuietTenant, startNodeProcess, type NodeProcess, type Responsiveness } from './support/hostile.js';
import { hlcAt, resourceOp } from './support/ops.js';

let node: NodeProcess;
const QUIET = 'quiet';

beforeAll(async () => {
  node = await startNodeProcess({ PERCOLATE_NODE_ID: 'victim' });
  await seedQuietTenant(node.url, QUIET);
});

afterAll(async () => {
  await node?.close();
});

function expectResponsive(r: Responsiveness): void {
  expect(r.probes).toBeGreaterThan(0);
  expect(r.healthMaxMs).toBeLessThan(250);
  expect(r.searchStatuses.length).toBeGreaterThan(0);
  expect(r.searchStatuses.every((s) => s === 200)).toBe(true);
}

function expectClientError(res: { status: number; body: any }, code: string): void {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.body.error.code).toBe(code);
}

/** Sends as `tenant` while probing the node; returns the answer after asserting the node stayed responsive. */
async function hostile(method: string, path: string, tenant: string, body: unknown): Promise<{ status: number; body: any }> {
  const { result, responsiveness } = await probeWhile(node.url, () => node.call(method, path, { tenant, body }), { otherTenant: QUIET });
  expectResponsive(responsiveness);
  return result;
}

describe('clock poisoning', () => {
  it('refuses a /sync op stamped far in the future, and later writes of other tenants keep winning', async () => {
    const poisoned = await resourceOp('mallory', 'evil', '999999999999999.999990.evil', 'doc://poison', 'from the far future');
    const res = await hostile('POST', '/api/v1/sync', 'mallory', { ops: [poisoned] });
    expectClientError(res, 'invalid_op');
    expect(res.body.error.message).toMatch(/ahead of this node's clock/);
    // a little ahead (within PERCOLATE_HLC_MAX_DRIFT_MS) is a skewed peer, not an attack: accepted
    const skewed = await resourceOp('mallory', 'peer', hlcAt(Date.now() + 5_000, 'peer'), 'doc://skewed', 'a peer five seconds ahead');
    expect((await node.call('POST', '/api/v1/sync', { tenant: 'mallory', body: { ops: [skewed] } })).status).toBe(200);

    // another tenant updates one record many times, then deletes it: every acknowledged write takes effect
    const uri = 'doc://alice';
    for (let i = 0; i < 15; i++) {
      expect((await node.call('POST', '/api/v1/resources', { tenant: 'alice', body: { uri, content: `version ${i}` } })).status).toBe(201);
    }
    const id = resourceId(uri, 0);
    expect((await node.call('GET', `/api/v1/resources/${id}`, { tenant: 'alice' })).body.content).toBe('version 14');
    expect((await node.call('DELETE', `/api/v1/resources/${id}`, { tenant: 'alice' })).status).toBe(204);
    expect((await node.call('GET', `/api/v1/resources/${id}`, { tenant: 'alice' })).status).toBe(404);
    // the node's timestamps stay in their format and near the wall clock
    const digest = await node.call('GET', '/api/v1/tenant/digest', { tenant: 'alice' });
    expect(digest.body.hlc_max).toMatch(/^\d{15}\.\d{6}\.victim$/);
    expect(Math.abs(hlcWallMs(digest.body.hlc_max) - Date.now())).toBeLessThan(60_000);
  });
});

/** `count` texts of about a kilobyte each, drawn from a large vocabulary (so each adds ~100 keyword postings). */
function variedTexts(count: number, seed: number): string[] {
  const rnd = mulberry32(seed);
  const vocab = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x${Math.floor(rnd() * 1e6).toString(36)}`);
  return Array.from({ length: count }, () => Array.from({ length: 120 }, () => vocab[Math.floor(rnd() * vocab.length)]).join(' '));
}

describe('stack overflows', () => {
  it('accepts a batch of 1,000 ordinary resources (about 1 MB) in one request', async () => {
    const resources = variedTexts(1000, 7).map((content, i) => ({ uri: `doc://batch/${i}`, content }));
    const body = { resources };
    expect(JSON.stringify(body).length).toBeGreaterThan(900_000);
    const res = await hostile('POST', '/api/v1/resources', 'bulk', body);
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(201);
    expect(res.body.count).toBe(1000);
  });

  it('accepts one replicated op of 1,000 mutations through /sync', { timeout: 30_000 }, async () => {
    const hlc = hlcAt(Date.now(), 'peer');
    const ops = await Promise.all(variedTexts(1000, 11).map((content, i) => resourceOp('bulk-sync', 'peer', hlc, `doc://sync/${i}`, content)));
    const op = { ...ops[0]!, mutations: ops.map((o) => o.mutations[0]!) };
    const res = await hostile('POST', '/api/v1/sync', 'bulk-sync', { ops: [op] });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
    expect(res.body.applied).toBe(1000);
  });

  it('refuses metadata nested thousands of levels deep with 400, and accepts ordinary nesting', async () => {
    // written as text: JSON.stringify itself cannot nest this deep
    const rawBody = `{"uri":"doc://deep","content":"deep","metadata":${'{"a":'.repeat(5000)}"bottom"${'}'.repeat(5000)}}`;
    const { result: res, responsiveness } = await probeWhile(node.url, () => node.call('POST', '/api/v1/resources', { tenant: 'deep', rawBody }), { otherTenant: QUIET });
    expectResponsive(responsiveness);
    expectClientError(res, 'invalid_request');
    expect(res.body.error.message).toMatch(/deeper than 64/);
    let ok: unknown = 'bottom';
    for (let i = 0; i < 20; i++) ok = { a: ok };
    expect((await node.call('POST', '/api/v1/resources', { tenant: 'deep', body: { uri: 'doc://ok', content: 'ok', metadata: ok } })).status).toBe(201);
  });
});

describe('prototype keys', () => {
  it('round-trips properties and aliases named after Object.prototype members, and refuses __proto__ naming it', async () => {
    const properties = { constructor: 'c', toString: 't', isPrototypeOf: true, hasOwnProperty: 1, valueOf: { x: 1 }, __defineGetter__: [1, 2] };
    const res = await hostile('POST', '/api/v1/entities', 'proto', { type: 'thing', key: 'object', aliases: ['constructor', 'toString'], properties });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = entityId('thing', 'object');
    const got = await node.call('GET', `/api/v1/entities/${id}`, { tenant: 'proto' });
    expect(got.body.properties).toEqual(properties);
    expect(got.body.aliases).toEqual(['constructor', 'toString']);
    // merge semantics hold for these keys too: null removes, others stay
    await node.call('POST', '/api/v1/entities', { tenant: 'proto', body: { type: 'thing', key: 'object', properties: { toString: null, constructor: 'c2' } } });
    const after = await node.call('GET', `/api/v1/entities/${id}`, { tenant: 'proto' });
    const { toString: _removed, ...rest } = properties;
    expect(after.body.properties).toEqual({ ...rest, constructor: 'c2' });
    // lookup by an alias named constructor finds the entity
    expect((await node.call('GET', '/api/v1/entities?key=constructor', { tenant: 'proto' })).status).toBe(200);

    const bad = await node.call('POST', '/api/v1/entities', { tenant: 'proto', rawBody: '{"type":"thing","key":"x","properties":{"__proto__":{"polluted":true}}}' });
    expectClientError(bad, 'invalid_request');
    expect(bad.body.error.message).toMatch(/__proto__/);
  });
});

describe('vectors', () => {
  const dim = 384;
  const vec = (f: (i: number) => number) => Array.from({ length: dim }, (_, i) => f(i));

  it('refuses embeddings and query vectors that overflow float32, and ranks big but finite ones with finite scores', async () => {
    const overflow = vec((i) => (i === 0 ? 1e308 : 0.5));
    const res = await hostile('POST', '/api/v1/resources', 'vec', { uri: 'doc://inf', content: 'overflowing vector', embedding: overflow });
    expectClientError(res, 'invalid_embedding');
    expectClientError(await node.call('POST', '/api/v1/search', { tenant: QUIET, body: { vector: overflow, mode: 'vector' } }), 'invalid_embedding');

    const rnd = mulberry32(3);
    const big = vec(() => (rnd() - 0.5) * 1e30);
    const normal = vec((i) => Math.sin(i));
    expect((await node.call('POST', '/api/v1/resources', { tenant: 'vec', body: { uri: 'doc://big', content: 'big vector', embedding: big } })).status).toBe(201);
    expect((await node.call('POST', '/api/v1/resources', { tenant: 'vec', body: { uri: 'doc://normal', content: 'normal vector', embedding: normal } })).status).toBe(201);
    const found = await node.call('POST', '/api/v1/search', { tenant: 'vec', body: { vector: normal, mode: 'vector', limit: 5 } });
    expect(found.status).toBe(200);
    expect(found.body.results.every((h: { score: unknown }) => typeof h.score === 'number' && Number.isFinite(h.score))).toBe(true);
    expect(found.body.results[0].record.uri).toBe('doc://normal');
    expect(found.body.results[0].score).toBeCloseTo(1, 5);
  });
});

describe('/sync input', () => {
  const now = () => hlcAt(Date.now(), 'peer');

  it('refuses ops whose records break the write rules with 400 invalid_op, never a 500', async () => {
    const good = await resourceOp('syncbad', 'peer', now(), 'doc://good', 'good');
    const ent = entityId('person', 'eve');
    const mom = 'a'.repeat(32);
    const mutate = (m: object) => ({ ...good, op_id: `${good.hlc}#x`, mutations: [m] });
    const cases: [string, unknown][] = [
      ['aliases that are not strings', mutate({ type: 'put', kind: 'entities', id: ent, delta: { type: 'person', key: 'eve', aliases: [1, 2] } })],
      ['an entity id not derived from type and key', mutate({ type: 'put', kind: 'entities', id: 'b'.repeat(32), delta: { type: 'person', key: 'eve' } })],
      ['a blank entity key', mutate({ type: 'put', kind: 'entities', id: entityId('person', ' '), delta: { type: 'person', key: ' ' } })],
      ['edge properties that are not an object', mutate({ type: 'put', kind: 'entities', id: ent, delta: { type: 'person', key: 'eve', edges: [{ rel: 'knows', to: ent, properties: 'x', weight: 1 }] } })],
      ['a non-finite edge weight', mutate({ type: 'put', kind: 'entities', id: ent, delta: { type: 'person', key: 'eve', edges: [{ rel: 'knows', to: ent, properties: {}, weight: null }] } })],
      ['moment tags that are not a list', mutate({ ...good.mutations[0], kind: 'moments', id: mom, record: { id: mom, name: '', summary: 's', moment_type: 'x', start_time: '2024-01-01T00:00:00.000Z', end_time: null, tags: 'work', people: [], resource_ids: [], entity_ids: [], metadata: {}, created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' } })],
      ['resource metadata that is not an object', mutate({ ...good.mutations[0], record: { ...(good.mutations[0] as { record: object }).record, metadata: 'x' } })],
      ['a resource id not derived from its uri', mutate({ ...good.mutations[0], record: { ...(good.mutations[0] as { record: object }).record, uri: 'doc://other' } })],
      ['a uri with a control character', mutate({ ...good.mutations[0], record: { ...(good.mutations[0] as { record: object }).record, uri: 'doc://\u0000x' } })],
      ['a vector with infinite components', mutate({ ...good.mutations[0], vector: Buffer.from(new Float32Array(384).fill(Infinity).buffer).toString('base64') })],
      ['unknown record fields', mutate({ ...good.mutations[0], record: { ...(good.mutations[0] as { record: object }).record, extra: 1 } })],
    ];
    for (const [what, op] of cases) {
      const res = await hostile('POST', '/api/v1/sync', 'syncbad', { ops: [op] });
      expect(res.status, `${what}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
      expect(res.body.error.code, what).toBe('invalid_op');
    }
    // nothing of the refused ops was written
    expect((await node.call('GET', '/api/v1/tenant', { tenant: 'syncbad' })).status).toBe(404);
  });

  it('refuses schema ops the schema route would refuse (slow patterns, bad shapes, mixed ops) with 400 invalid_op', async () => {
    const hlc = now();
    const time = new Date().toISOString();
    const def = { type: 'Person', schema: { type: 'object' }, key_field: null, indexed_fields: [], embedding_fields: [], created_at: time, updated_at: time };
    const schemaOp = (mutations: unknown[]) => ({ v: 1, op_id: `${hlc}#0`, tenant: 'syncschema', node: 'peer', hlc, mutations });
    const put = (over: object, id = 'person') => ({ type: 'put', kind: 'schemas', id, definition: { ...def, ...over } });
    const good = await resourceOp('syncschema', 'peer', hlc, 'doc://good', 'good');
    const cases: [string, unknown][] = [
      ['a backtracking pattern', schemaOp([put({ schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+\\1$' } } } })])],
      ['uniqueItems without maxItems', schemaOp([put({ schema: { type: 'array', uniqueItems: true } })])],
      ['a schema that does not compile', schemaOp([put({ schema: { type: 'no-such-type' } })])],
      ['an indexed field that is not a property path', schemaOp([put({ indexed_fields: ['a b'] })])],
      ['a type that does not normalise to the id', schemaOp([put({}, 'company')])],
      ['an id that is not normalised', schemaOp([put({ type: 'PERSON' }, 'PERSON')])],
      ['unknown definition fields', schemaOp([put({ extra: 1 })])],
      ['a schema op with two mutations', schemaOp([put({}), put({})])],
      ['a schema mutation inside a record op', { ...good, mutations: [...good.mutations, put({})] }],
    ];
    for (const [what, op] of cases) {
      const res = await hostile('POST', '/api/v1/sync', 'syncschema', { ops: [op] });
      expect(res.status, `${what}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
      expect(res.body.error.code, what).toBe('invalid_op');
    }
    expect((await node.call('GET', '/api/v1/tenant', { tenant: 'syncschema' })).status).toBe(404);
    // the well-formed definition is installed, its index usable
    const ok = await hostile('POST', '/api/v1/sync', 'syncschema', { ops: [schemaOp([put({ indexed_fields: ['born'] })])] });
    expect(ok.status).toBe(200);
    expect(ok.body.applied).toBe(1);
    expect((await node.call('GET', '/api/v1/schemas/person', { tenant: 'syncschema' })).body.indexed_fields).toEqual(['born']);
  });

  it('refuses a relation containing \\0, so it cannot invent edges in the reverse index', async () => {
    const seeded = await node.call('POST', '/api/v1/entities', { tenant: 'graph', body: { entities: [{ type: 'person', key: 'a' }, { type: 'person', key: 'b' }] } });
    expect(seeded.status).toBe(201);
    const a = entityId('person', 'a');
    const b = entityId('person', 'b');
    const op = {
      v: 1,
      op_id: 'x#0',
      tenant: 'graph',
      node: 'peer',
      hlc: now(),
      mutations: [{ type: 'put', kind: 'entities', id: a, delta: { type: 'person', key: 'a', edges: [{ rel: `knows\u0000${b}\u0000forged`, to: b, properties: {}, weight: 1 }] } }],
    };
    op.op_id = `${op.hlc}#0`;
    const res = await hostile('POST', '/api/v1/sync', 'graph', { ops: [op] });
    expectClientError(res, 'invalid_op');
    expect(res.body.error.message).toMatch(/rel must not contain control characters/);
    const t = await node.call('POST', '/api/v1/query', { tenant: 'graph', body: { query: `TRAVERSE FROM '${a}' DEPTH 2 DIRECTION both` } });
    expect(t.status).toBe(200);
    expect(t.body.edges).toEqual([]);
  });
});

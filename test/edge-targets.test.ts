// Every edge endpoint is an entity, on every replica: an edge to {type, key} creates its target when it does not
// exist (LOOKUP, FUZZY, SELECT and TRAVERSE name it on the other node too), a later full write of the target merges
// with it, and an edge to a bare id that names no entity is refused at the origin with 422 naming the edge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entityId } from '../shared/rem/ids.js';
import { startNode, type TestNode } from './support/api.js';
import { startNats } from './support/nats.js';
import { waitFor } from './support/wait.js';

const T = 'langs';
let a: TestNode;
let b: TestNode;
let stopNats: () => Promise<void>;

beforeAll(async () => {
  const nats = await startNats();
  stopNats = () => nats.cleanup();
  a = await startNode({ PERCOLATE_NATS_URL: nats.url, PERCOLATE_NODE_ID: 'a' });
  b = await startNode({ PERCOLATE_NATS_URL: nats.url, PERCOLATE_NODE_ID: 'b' });
  for (const n of [a, b]) await waitFor(`node ${n.cfg.nodeId} connected`, async () => (await n.call('GET', '/health/ready', { tenant: null })).body.replication === 'connected');
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await stopNats?.();
});

const query = async (n: TestNode, q: string) => {
  const r = await n.call('POST', '/api/v1/query', { tenant: T, body: { query: q } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};

describe('edge targets', () => {
  it('creates the target of an edge to {type, key} on every replica, and merges its later full write', async () => {
    const w = await a.call('POST', '/api/v1/entities', {
      tenant: T,
      body: {
        entities: [
          { type: 'person', key: 'Grace Hopper', edges: [{ rel: 'created', to: { type: 'language', key: 'COBOL' } }] },
          { type: 'language', key: 'COBOL', name: 'COBOL', edges: [{ rel: 'influenced', to: { type: 'language', key: 'PL/I' } }] },
        ],
      },
    });
    expect(w.status, JSON.stringify(w.body)).toBe(201);
    // on the other node: PL/I exists as an entity LOOKUP, SELECT and TRAVERSE name
    const pli = await waitFor('PL/I on node b', async () => {
      const r = await b.call('GET', `/api/v1/entities?key=${encodeURIComponent('PL/I')}`, { tenant: T });
      return r.status === 200 && r.body.results.length === 1 ? r.body.results[0] : undefined;
    });
    expect(pli).toMatchObject({ type: 'language', key: 'PL/I', name: 'PL/I' });
    expect((await query(b, "LOOKUP 'PL/I' TYPE 'language'")).results.map((e: { key: string }) => e.key)).toEqual(['PL/I']);
    expect((await query(b, "SELECT key FROM entities WHERE type = 'language' ORDER BY key")).rows).toEqual([{ key: 'COBOL' }, { key: 'PL/I' }]);
    const walk = await query(b, "TRAVERSE FROM 'Grace Hopper' DEPTH 2 DIRECTION out");
    expect(walk.results.map((n: { key: string; depth: number }) => [n.key, n.depth])).toEqual([
      ['Grace Hopper', 0],
      ['COBOL', 1],
      ['PL/I', 2],
    ]);
    expect(walk.edges).toHaveLength(2);
    const fuzzy = await b.call('GET', `/api/v1/entities?fuzzy=${encodeURIComponent('PL/1')}`, { tenant: T });
    expect(fuzzy.body.results.map((e: { key: string }) => e.key)).toContain('PL/I');

    // written in full later, on the other node: merged, its incoming edge kept
    const full = await b.call('POST', '/api/v1/entities', { tenant: T, body: { type: 'language', key: 'PL/I', name: 'PL/I (Programming Language One)', properties: { year: 1964 } } });
    expect(full.status).toBe(201);
    await waitFor('the full PL/I on node a', async () => {
      const r = await a.call('GET', `/api/v1/entities/${pli.id}`, { tenant: T });
      return r.body?.name === 'PL/I (Programming Language One)' && r.body.properties?.year === 1964;
    });
    expect((await query(a, "TRAVERSE FROM 'COBOL' DIRECTION out")).results.map((n: { name: string }) => n.name)).toContain('PL/I (Programming Language One)');
    // a later edge to the same target does not reset it
    await a.call('POST', '/api/v1/entities', { tenant: T, body: { type: 'language', key: 'Fortran', edges: [{ rel: 'influenced', to: { type: 'language', key: 'PL/I' } }] } });
    const after = await a.call('GET', `/api/v1/entities/${pli.id}`, { tenant: T });
    expect(after.body).toMatchObject({ name: 'PL/I (Programming Language One)', properties: { year: 1964 } });
    await waitFor('the replicas to agree', async () => {
      const [da, db] = await Promise.all([a, b].map((n) => n.call('GET', '/api/v1/tenant/digest', { tenant: T })));
      return da!.body.digest === db!.body.digest;
    });
  });

  it('refuses an edge to a bare id that names no entity with 422 naming the edge, and accepts one that does', async () => {
    const ghost = 'f'.repeat(32);
    const r = await a.call('POST', '/api/v1/entities', { tenant: T, body: { entities: [{ type: 'person', key: 'Ada', edges: [{ rel: 'knows', to: { type: 'person', key: 'Grace Hopper' } }, { rel: 'knows', to: ghost }] }] } });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({ code: 'edge_target_not_found', details: { path: 'entities[0].edges[1]', id: ghost } });
    expect((await a.call('GET', '/api/v1/entities?key=Ada', { tenant: T })).body.results).toEqual([]);
    // a bare id of an existing entity, or of one written in the same batch, is fine
    const cobol = (await a.call('GET', '/api/v1/entities?key=COBOL', { tenant: T })).body.results[0].id as string;
    const ok = await a.call('POST', '/api/v1/entities', {
      tenant: T,
      body: { entities: [{ type: 'person', key: 'Jean Sammet', edges: [{ rel: 'designed', to: cobol }, { rel: 'knows', to: entityId('person', 'Ada Lovelace') }] }, { type: 'person', key: 'Ada Lovelace' }] },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
  });

  it('refuses a write that would create more edge targets than the bound, and writes nothing of it', async () => {
    // 21 entities x 50 new targets = 1,050 entities to create (at most 1,000 per write)
    const entities = Array.from({ length: 21 }, (_, i) => ({ type: 'hub', key: `h${i}`, edges: Array.from({ length: 50 }, (_, j) => ({ rel: 'r', to: { type: 'leaf', key: `l${i}-${j}` } })) }));
    const r = await a.call('POST', '/api/v1/entities', { tenant: T, body: { entities } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('limit_exceeded');
    expect(r.body.error.message).toMatch(/1050 edge targets/);
    expect((await a.call('GET', '/api/v1/entities?key=h0', { tenant: T })).body.results).toEqual([]);
    // 20 x 50 = 1,000 is within it
    expect((await a.call('POST', '/api/v1/entities', { tenant: T, body: { entities: entities.slice(0, 20) } })).status).toBe(201);
  });
});

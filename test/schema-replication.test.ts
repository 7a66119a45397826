// Entity schemas replicate: PUT /schemas/:type on one node reaches every node through the sync stream, so the same
// entity write is refused everywhere, each node builds the same secondary indexes (and answers with the same query
// plan), a delete removes the schema everywhere, and the digests, which cover schema versions, converge.
import { afterEach, describe, expect, it } from 'vitest';
import { digestsConverge, startNode, type TestNode } from './support/api.js';
import { startNats } from './support/nats.js';
import { waitFor } from './support/wait.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function node(id: string, natsUrl: string): Promise<TestNode> {
  const n = await startNode({ PERCOLATE_NODE_ID: id, PERCOLATE_NATS_URL: natsUrl });
  cleanups.push(() => n.close());
  await waitFor(`node ${id} connected to NATS`, async () => (await n.call('GET', '/health/ready', { tenant: null })).body.replication === 'connected');
  return n;
}

const PERSON = {
  schema: { type: 'object', required: ['born'], properties: { born: { type: 'integer', minimum: 0 } } },
  indexed_fields: ['born'],
};

describe('replicated schemas', () => {
  it('a schema set on A refuses a bad write on B and C, and every node plans the same indexed query', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => node(id, nats.url)));
    const t = { tenant: 'schemas' };
    // entities written before the schema exists are indexed on every node when it arrives
    await a!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'ada', properties: { born: 1815 } } });
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'schemas');

    const put = await a!.call('PUT', '/api/v1/schemas/Person', { ...t, body: PERSON });
    expect(put.status).toBe(201);
    for (const n of [b!, c!]) {
      const got = await waitFor('schema on the replica', async () => ((r) => (r.status === 200 ? r.body : undefined))(await n.call('GET', '/api/v1/schemas/person', t)));
      expect(got).toMatchObject({ type: 'Person', indexed_fields: ['born'], created_at: put.body.created_at, updated_at: put.body.updated_at });
      const bad = await n.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'nobody', properties: { born: 'long ago' } } });
      expect(bad.status).toBe(422);
      expect(bad.body.error.code).toBe('schema_violation');
    }
    // a good write on B replicates to A and C, where it lands in the index
    expect((await b!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'grace', properties: { born: 1906 } } })).status).toBe(201);
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'schemas');
    const query = 'SELECT key FROM entities WHERE type = \'person\' AND properties.born >= 1900';
    const plans = await Promise.all([a!, b!, c!].map((n) => n.call('POST', '/api/v1/query', { ...t, body: { query: `EXPLAIN ${query}` } })));
    for (const p of plans) {
      expect(p.status).toBe(200);
      expect(p.body.plan.access).toMatchObject({ access: 'index_range', index: 'person.born' });
      expect(p.body.plan).toEqual(plans[0]!.body.plan);
    }
    for (const n of [a!, b!, c!]) {
      const rows = await n.call('POST', '/api/v1/query', { ...t, body: { query } });
      expect(rows.body.rows.map((r: { key: string }) => r.key)).toEqual(['grace']);
    }

    // a delete on C removes the schema and its index everywhere: the bad write is accepted again on A
    expect((await c!.call('DELETE', '/api/v1/schemas/person', t)).status).toBe(204);
    for (const n of [a!, b!]) await waitFor('schema deleted on the replica', async () => (await n.call('GET', '/api/v1/schemas/person', t)).status === 404);
    expect((await a!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'nobody', properties: { born: 'long ago' } } })).status).toBe(201);
    const after = await b!.call('POST', '/api/v1/query', { ...t, body: { query: `EXPLAIN ${query}` } });
    expect(after.body.plan.access.access).not.toBe('index_range');
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'schemas');
  });

  it('the later of two concurrent schema puts wins on every node', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b] = await Promise.all(['a', 'b'].map((id) => node(id, nats.url)));
    const t = { tenant: 'schema-lww' };
    const [pa, pb] = await Promise.all([
      a!.call('PUT', '/api/v1/schemas/person', { ...t, body: { ...PERSON, indexed_fields: ['born'] } }),
      b!.call('PUT', '/api/v1/schemas/person', { ...t, body: { schema: { type: 'object' }, indexed_fields: ['city'] } }),
    ]);
    // each put succeeds: 201, or 200 when the other's op replicated to its node first (the put then replaces it)
    for (const r of [pa, pb]) expect([200, 201]).toContain(r.status);
    await digestsConverge([a!, b!].map((n) => n.call.bind(n)), 'schema-lww');
    const [sa, sb] = await Promise.all([a!, b!].map((n) => n.call('GET', '/api/v1/schemas/person', t)));
    expect(sa!.body).toEqual(sb!.body);
    // HLC order: the later updated_at (ties broken by node id) is the definition both keep
    const winner = pa.body.updated_at > pb.body.updated_at || (pa.body.updated_at === pb.body.updated_at && 'a' > 'b') ? pa : pb;
    expect(sa!.body.indexed_fields).toEqual(winner.body.indexed_fields);
  });
});

// Replication between database nodes over a real nats-server (JetStream): convergence, conflicts, deletes, and
// faults (NATS down, a node killed with SIGKILL, a NATS cluster member killed). Digests are compared at the end of
// every test: equal digests mean equal ids, versions and tombstones on every replica.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodeHlc } from '../shared/rem/hlc.js';
import { resourceId } from '../shared/rem/ids.js';
import { callUrl, digestsConverge, startNode, type Caller, type TestNode } from './support/api.js';
import { startNats, startNatsCluster, type NatsServer } from './support/nats.js';
import { spawnService, type ServiceProcess } from './support/process.js';
import { tempDir } from './support/tmp.js';
import { sleep, waitFor } from './support/wait.js';

const caller = (url: string): Caller => (m, p, o) => callUrl(url, m, p, o);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function inProcessNode(id: string, natsUrl: string, extra: Record<string, string> = {}): Promise<TestNode> {
  const node = await startNode({ PERCOLATE_NODE_ID: id, PERCOLATE_NATS_URL: natsUrl, ...extra });
  cleanups.push(() => node.close());
  await waitFor(`node ${id} connected to NATS`, async () => (await node.call('GET', '/health/ready', { tenant: null })).body.replication === 'connected');
  return node;
}

describe('replication across three nodes', () => {
  it('makes a write on A readable on B and C, for every kind, with equal digests', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => inProcessNode(id, nats.url)));
    const t = { tenant: 'shared' };
    const res = await a!.call('POST', '/api/v1/resources', { ...t, body: { uri: 'doc://r', content: 'replicated resource text' } });
    const ent = await a!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'ada', properties: { born: 1815 } } });
    const mom = await a!.call('POST', '/api/v1/moments', { ...t, body: { summary: 'met ada', start_time: '2024-01-01T10:00:00Z' } });
    for (const n of [b!, c!]) {
      const got = await waitFor('resource on replica', async () => {
        const r = await n.call('GET', `/api/v1/resources/${res.body.ids[0]}`, t);
        return r.status === 200 ? r.body : undefined;
      });
      expect(got.content).toBe('replicated resource text');
      expect((await waitFor('entity', async () => ((r) => (r.status === 200 ? r : undefined))(await n.call('GET', `/api/v1/entities/${ent.body.ids[0]}`, t)))).body.properties).toEqual({ born: 1815 });
      expect((await waitFor('moment', async () => ((r) => (r.status === 200 ? r : undefined))(await n.call('GET', `/api/v1/moments/${mom.body.ids[0]}`, t)))).body.summary).toBe('met ada');
      // replicas index what they receive: search finds it
      const hits = await n.call('GET', '/api/v1/resources?query=replicated&mode=keyword', t);
      expect(hits.body.results.map((r: { id: string }) => r.id)).toContain(res.body.ids[0]);
    }
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'shared');
  });

  it('merges concurrent conflicting entity updates on A and B so both properties survive', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => inProcessNode(id, nats.url)));
    const t = { tenant: 'conflict' };
    await a!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'grace', properties: { field: 'navy' } } });
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'conflict');
    // both nodes update the same entity at once, before either sees the other's write
    const [wa, wb] = await Promise.all([
      a!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'grace', properties: { rank: 'admiral', field: 'computing' }, edges: [{ rel: 'wrote', to: { type: 'language', key: 'cobol' } }] } }),
      b!.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'grace', properties: { born: 1906 }, aliases: ['Amazing Grace'] } }),
    ]);
    const id = wa.body.ids[0];
    expect(wb.body.ids[0]).toBe(id);
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'conflict');
    for (const n of [a!, b!, c!]) {
      const e = (await n.call('GET', `/api/v1/entities/${id}`, t)).body;
      expect(e.properties).toEqual({ born: 1906, field: 'computing', rank: 'admiral' });
      expect(e.aliases).toEqual(['Amazing Grace']);
      expect(e.edges.map((x: { rel: string }) => x.rel)).toEqual(['wrote']);
    }
  });

  it('lets a delete win over an older write that arrives after it', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => inProcessNode(id, nats.url)));
    const t = { tenant: 'deletes' };
    const w = await a!.call('POST', '/api/v1/resources', { ...t, body: { uri: 'doc://d', content: 'to be deleted' } });
    const id = w.body.ids[0];
    await waitFor('replica has it', async () => (await b!.call('GET', `/api/v1/resources/${id}`, t)).status === 200);
    expect((await b!.call('DELETE', `/api/v1/resources/${id}`, t)).status).toBe(204);
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'deletes');
    for (const n of [a!, b!, c!]) expect((await n.call('GET', `/api/v1/resources/${id}`, t)).status).toBe(404);

    // a write stamped before the delete (a slow node's op, delivered late) must not resurrect the record
    const oldHlc = encodeHlc({ wallMs: Date.now() - 60_000, counter: 0, node: 'z' });
    const vector = Buffer.from(new Float32Array(384).fill(0.05).buffer).toString('base64');
    const late = {
      v: 1,
      op_id: `${oldHlc}#0`,
      tenant: 'deletes',
      node: 'z',
      hlc: oldHlc,
      mutations: [
        {
          type: 'put',
          kind: 'resources',
          id: resourceId('doc://d', 0),
          record: { id, uri: 'doc://d', name: '', content: 'stale', chunk_ordinal: 0, metadata: {}, created_at: new Date().toISOString(), updated_at: new Date().toISOString() },
          vector,
        },
      ],
    };
    const applied = await c!.call('POST', '/api/v1/sync', { ...t, body: { ops: [late] } });
    expect(applied.status).toBe(200);
    expect(applied.body).toMatchObject({ applied: 0, skipped: 1 });
    expect((await c!.call('GET', `/api/v1/resources/${id}`, t)).status).toBe(404);
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'deletes');
  });
});

describe('replication under faults', () => {
  it('keeps accepting writes while NATS is down for 10 s and converges with nothing lost after it returns', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => inProcessNode(id, nats.url)));
    const t = { tenant: 'outage' };
    const ids: string[] = [];
    const write = async (i: number) => {
      const r = await a!.call('POST', '/api/v1/resources', { ...t, body: { uri: `doc://o/${i}`, content: `outage write ${i}` } });
      expect(r.status).toBe(201);
      ids.push(r.body.ids[0]);
    };
    for (let i = 0; i < 20; i++) await write(i);
    await nats.stop();
    await waitFor('node a to notice the outage', async () => (await a!.call('GET', '/health/ready', { tenant: null })).body.replication === 'disconnected', 15_000);
    // The outage itself is the subject here: NATS stays down for 10 s of wall time while a write goes to node a every
    // 100 ms (not a wait for a condition, so a fixed clock, not waitFor).
    const downUntil = Date.now() + 10_000;
    let i = 20;
    while (Date.now() < downUntil) {
      await write(i++);
      await sleep(100);
    }
    await nats.start();
    for (let j = 0; j < 5; j++) await write(i++);
    const digest = await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'outage', 60_000);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    for (const n of [b!, c!]) {
      const info = (await n.call('GET', '/api/v1/tenant', t)).body;
      expect(info.counts.resources).toBe(ids.length);
    }
  });

  it('catches up from its durable consumer after being killed with SIGKILL mid-stream', async () => {
    const nats = await startNats();
    cleanups.push(() => nats.cleanup());
    const a = await inProcessNode('a', nats.url);
    const c = await inProcessNode('c', nats.url);
    const bDir = await tempDir();
    cleanups.push(() => bDir.cleanup());
    const env = { PERCOLATE_NODE_ID: 'b', PERCOLATE_NATS_URL: nats.url, PERCOLATE_DATA_DIR: bDir.dir, PORT: '0' };
    let b: ServiceProcess = await spawnService('services/api/main.ts', env);
    cleanups.push(() => b.kill('SIGKILL'));
    await waitFor('b connected', async () => (await callUrl(b.url, 'GET', '/health/ready', { tenant: null })).body.replication === 'connected');
    const t = { tenant: 'killed' };
    let n = 0;
    const stop = { now: false };
    const load = (async () => {
      while (!stop.now) {
        const batch = Array.from({ length: 10 }, () => ({ uri: `doc://k/${n}`, content: `kill test ${n++}` }));
        await a.call('POST', '/api/v1/resources', { ...t, body: { resources: batch } });
      }
    })();
    await waitFor('b applying', async () => ((r) => r.status === 200 && r.body.counts.resources > 50)(await callUrl(b.url, 'GET', '/api/v1/tenant', t)));
    b.child.kill('SIGKILL');
    await b.exited;
    // b must have ops to catch up on: let the load write another 100 records while b is down
    const atKill = n;
    await waitFor('100 more writes while b is down', async () => n >= atKill + 100, 30_000, 10);
    stop.now = true;
    await load;
    b = await spawnService('services/api/main.ts', env);
    cleanups.push(() => b.kill('SIGKILL'));
    await digestsConverge([a.call.bind(a), c.call.bind(c), caller(b.url)], 'killed', 60_000);
    expect((await callUrl(b.url, 'GET', '/api/v1/tenant', t)).body.counts.resources).toBe(n);
    await b.kill('SIGTERM');
  });

  it('keeps replicating through an R3 stream when one server of a three-server NATS cluster is killed', async () => {
    const cluster = await startNatsCluster(3);
    cleanups.push(() => cluster.cleanup());
    const env = { PERCOLATE_SYNC_REPLICAS: '3' };
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => inProcessNode(id, cluster.urls, env)));
    const t = { tenant: 'cluster' };
    await a!.call('POST', '/api/v1/resources', { ...t, body: { uri: 'doc://before', content: 'before the failure' } });
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'cluster');
    const victim: NatsServer = cluster.servers[0]!;
    await victim.stop('SIGKILL');
    const after = await a!.call('POST', '/api/v1/resources', { ...t, body: { uri: 'doc://after', content: 'after the failure' } });
    const afterFromB = await b!.call('POST', '/api/v1/entities', { ...t, body: { type: 'note', key: 'from b' } });
    for (const n of [a!, b!, c!]) {
      await waitFor('post-failure writes everywhere', async () => (await n.call('GET', `/api/v1/resources/${after.body.ids[0]}`, t)).status === 200, 60_000);
      await waitFor('entity from b everywhere', async () => (await n.call('GET', `/api/v1/entities/${afterFromB.body.ids[0]}`, t)).status === 200, 60_000);
    }
    await digestsConverge([a!, b!, c!].map((n) => n.call.bind(n)), 'cluster');
  });
});

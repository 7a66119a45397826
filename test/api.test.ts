// The database node's HTTP API through a real listening server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entityId } from '../shared/rem/ids.js';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

describe('resources API', () => {
  it('writes a batch (201 with ids), reads one back and searches it in every mode', async () => {
    const write = await node.call('POST', '/api/v1/resources', {
      body: {
        resources: [
          { uri: 'doc://guide', content: 'Percolate keeps memories for AI agents in a REM database', name: 'Guide', metadata: { section: 'intro' } },
          { uri: 'doc://guide', chunk_ordinal: 1, content: 'Writes replicate through NATS JetStream between nodes' },
        ],
      },
    });
    expect(write.status).toBe(201);
    expect(write.body.count).toBe(2);
    const [id] = write.body.ids;
    const got = await node.call('GET', `/api/v1/resources/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, uri: 'doc://guide', name: 'Guide', chunk_ordinal: 0, metadata: { section: 'intro' } });
    for (const mode of ['hybrid', 'vector', 'keyword']) {
      const res = await node.call('GET', `/api/v1/resources?query=${encodeURIComponent('replicate jetstream')}&limit=1&mode=${mode}`);
      expect(res.status).toBe(200);
      expect(res.body.mode).toBe(mode);
      expect(typeof res.body.took_ms).toBe('number');
      expect(res.body.results[0]).toMatchObject({ uri: 'doc://guide', chunk_ordinal: 1 });
      expect(typeof res.body.results[0].score).toBe('number');
    }
  });

  it('accepts one bare object as a batch of one', async () => {
    const res = await node.call('POST', '/api/v1/resources', { body: { uri: 'doc://single', content: 'one' } });
    expect(res.status).toBe(201);
    expect(res.body.ids).toHaveLength(1);
  });

  it('lists in uri order with a cursor when no query is given', async () => {
    await node.call('POST', '/api/v1/resources', {
      tenant: 'lister',
      body: { resources: ['c', 'a', 'b'].map((u) => ({ uri: `x://${u}`, content: u })) },
    });
    const first = await node.call('GET', '/api/v1/resources?limit=2', { tenant: 'lister' });
    expect(first.body.results.map((r: { uri: string }) => r.uri)).toEqual(['x://a', 'x://b']);
    const second = await node.call('GET', `/api/v1/resources?limit=2&cursor=${first.body.next_cursor}`, { tenant: 'lister' });
    expect(second.body.results.map((r: { uri: string }) => r.uri)).toEqual(['x://c']);
    expect(second.body.next_cursor).toBeNull();
  });

  it('deletes with 204, then 404', async () => {
    const { body } = await node.call('POST', '/api/v1/resources', { body: { uri: 'doc://gone', content: 'temporary' } });
    const id = body.ids[0];
    expect((await node.call('DELETE', `/api/v1/resources/${id}`)).status).toBe(204);
    expect((await node.call('DELETE', `/api/v1/resources/${id}`)).status).toBe(404);
    const get = await node.call('GET', `/api/v1/resources/${id}`);
    expect(get.status).toBe(404);
    expect(get.body.error.code).toBe('not_found');
  });

  it('accepts precomputed embeddings of the tenant dimension and rejects other dimensions', async () => {
    const v = Array.from({ length: 384 }, (_, i) => (i === 7 ? 1 : 0));
    const ok = await node.call('POST', '/api/v1/resources', { tenant: 'vec', body: { uri: 'v://1', content: 'x', embedding: v } });
    expect(ok.status).toBe(201);
    const hit = await node.call('POST', '/api/v1/search', { tenant: 'vec', body: { vector: v, mode: 'vector', kinds: ['resources'], limit: 1 } });
    expect(hit.body.results[0]).toMatchObject({ kind: 'resources', id: ok.body.ids[0] });
    expect(hit.body.results[0].score).toBeCloseTo(1, 4);
    const bad = await node.call('POST', '/api/v1/resources', { tenant: 'vec', body: { uri: 'v://2', content: 'x', embedding: [1, 2] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_embedding');
  });
});

describe('entities API', () => {
  it('merges upserts, looks up by key, fuzzy-matches and traverses neighbours', async () => {
    const t = { tenant: 'graph' };
    const w = await node.call('POST', '/api/v1/entities', {
      ...t,
      body: {
        entities: [
          { type: 'person', key: 'Alan Turing', properties: { born: 1912 }, edges: [{ rel: 'worked_at', to: { type: 'org', key: 'Bletchley Park' } }] },
          { type: 'org', key: 'Bletchley Park' },
        ],
      },
    });
    expect(w.status).toBe(201);
    const alan = w.body.ids[0];
    await node.call('POST', '/api/v1/entities', { ...t, body: { type: 'person', key: 'alan turing', properties: { field: 'computing' } } });
    const got = await node.call('GET', `/api/v1/entities/${alan}`, t);
    expect(got.body.properties).toEqual({ born: 1912, field: 'computing' });

    const byKey = await node.call('GET', '/api/v1/entities?key=ALAN%20%20TURING&type=Person', t);
    expect(byKey.body.results.map((e: { id: string }) => e.id)).toEqual([alan]);
    const fuzzy = await node.call('GET', '/api/v1/entities?fuzzy=alan%20turnig', t);
    expect(fuzzy.body.results[0]).toMatchObject({ id: alan, match: 'fuzzy' });

    const park = entityId('org', 'bletchley park');
    const nb = await node.call('GET', `/api/v1/entities/${park}/neighbors?depth=2&direction=in`, t);
    expect(nb.status).toBe(200);
    expect(nb.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual([alan, park].sort());
    expect(nb.body.edges).toEqual([{ from: alan, rel: 'worked_at', to: park, weight: 1, properties: {} }]);

    expect((await node.call('DELETE', `/api/v1/entities/${alan}`, t)).status).toBe(204);
    expect((await node.call('GET', `/api/v1/entities/${alan}`, t)).status).toBe(404);
  });

  it('asks for key or fuzzy when neither is given', async () => {
    const res = await node.call('GET', '/api/v1/entities');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });
});

describe('moments API', () => {
  it('writes, lists newest first with filters and reads one back', async () => {
    const t = { tenant: 'timeline' };
    const w = await node.call('POST', '/api/v1/moments', {
      ...t,
      body: {
        moments: [
          { name: 'standup', summary: 'daily standup', start_time: '2024-05-01T09:00:00Z', moment_type: 'meeting', tags: ['team'] },
          { summary: 'shipped v1', start_time: '2024-05-02T17:00:00+02:00', end_time: '2024-05-02T18:00:00+02:00', people: ['ada'] },
        ],
      },
    });
    expect(w.status).toBe(201);
    const list = await node.call('GET', '/api/v1/moments?limit=10', t);
    expect(list.body.results.map((m: { summary: string }) => m.summary)).toEqual(['shipped v1', 'daily standup']);
    expect(list.body.results[0]).toMatchObject({ moment_type: 'other', start_time: '2024-05-02T15:00:00.000Z' });
    const meetings = await node.call('GET', '/api/v1/moments?type=meeting&from=2024-05-01T00:00:00Z&to=2024-05-01T23:59:59Z', t);
    expect(meetings.body.results.map((m: { name: string }) => m.name)).toEqual(['standup']);
    const one = await node.call('GET', `/api/v1/moments/${w.body.ids[0]}`, t);
    expect(one.body.tags).toEqual(['team']);
    expect((await node.call('DELETE', `/api/v1/moments/${w.body.ids[0]}`, t)).status).toBe(204);
  });

  it('rejects bad times with 400 naming the field', async () => {
    const res = await node.call('POST', '/api/v1/moments', { body: { summary: 's', start_time: 'tomorrow' } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('start_time');
  });
});

describe('cross-kind search, tenant info, health and metrics', () => {
  it('searches resources, entities and moments together, each hit with kind, id and score', async () => {
    const t = { tenant: 'mixed' };
    await node.call('POST', '/api/v1/resources', { ...t, body: { uri: 'm://r', content: 'the aurora borealis lights' } });
    await node.call('POST', '/api/v1/entities', { ...t, body: { type: 'phenomenon', key: 'aurora borealis' } });
    await node.call('POST', '/api/v1/moments', { ...t, body: { summary: 'we watched the aurora', start_time: '2024-01-01T22:00:00Z' } });
    const res = await node.call('POST', '/api/v1/search', { ...t, body: { query: 'aurora', limit: 10 } });
    expect(res.status).toBe(200);
    expect(new Set(res.body.results.map((r: { kind: string }) => r.kind))).toEqual(new Set(['resources', 'entities', 'moments']));
    for (const r of res.body.results) expect(r).toMatchObject({ id: expect.any(String), score: expect.any(Number) });
    const only = await node.call('POST', '/api/v1/search', { ...t, body: { query: 'aurora', kinds: ['moments'], mode: 'keyword' } });
    expect(only.body.results.map((r: { kind: string }) => r.kind)).toEqual(['moments']);
  });

  it('reports tenant counts, size on disk and embedder', async () => {
    const t = { tenant: 'info' };
    await node.call('POST', '/api/v1/resources', { ...t, body: { uri: 'i://1', content: 'x' } });
    const res = await node.call('GET', '/api/v1/tenant', t);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ tenant: 'info', counts: { resources: 1, entities: 0, moments: 0 }, embedder: { id: 'hash-ngram-v1', dimension: 384 } });
    expect(res.body.size_bytes).toBeGreaterThan(0);
    expect((await node.call('GET', '/api/v1/tenant', { tenant: 'never-written' })).status).toBe(404);
  });

  it('serves liveness, readiness and Prometheus metrics with route, search and tenant series', async () => {
    expect((await node.call('GET', '/health/live', { tenant: null })).body).toEqual({ status: 'ok' });
    expect((await node.call('GET', '/health/ready', { tenant: null })).status).toBe(200);
    const res = await fetch(node.url + '/metrics');
    const text = await res.text();
    expect(text).toMatch(/percolate_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/resources",status="201"\} \d+/);
    expect(text).toMatch(/percolate_search_duration_seconds_count\{mode="hybrid"\} \d+/);
    expect(text).toMatch(/percolate_open_tenant_stores \d+/);
    expect(text).toMatch(/percolate_vectors_pending_insert \d+/);
    expect(text).toMatch(/percolate_keyword_backlog \d+/);
    expect(text).toMatch(/percolate_active_tenants\{tier="small"\} [1-9]\d*/);
  });

  it('publishes an OpenAPI document covering the API routes', async () => {
    const doc = (await node.call('GET', '/openapi.json', { tenant: null })).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/resources', '/api/v1/entities/{id}/neighbors', '/api/v1/search']));
  });
});

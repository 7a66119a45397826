// POST /api/v1/query through a real node: every statement form, parameters, EXPLAIN, and the 400s of bad queries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
const T = 'qapi';
const q = (query: string, params?: unknown[], tenant: string | null = T) => node.call('POST', '/api/v1/query', { tenant, body: params ? { query, params } : { query } });

beforeAll(async () => {
  node = await startNode();
  const e = await node.call('POST', '/api/v1/entities', {
    tenant: T,
    body: {
      entities: [
        { type: 'person', key: 'Marie Curie', aliases: ['Madame Curie'], properties: { born: 1867, field: 'physics' }, edges: [{ rel: 'married_to', to: { type: 'person', key: 'Pierre Curie' } }, { rel: 'worked_at', to: { type: 'org', key: 'Sorbonne' } }] },
        { type: 'person', key: 'Pierre Curie', properties: { born: 1859, field: 'physics' }, edges: [{ rel: 'worked_at', to: { type: 'org', key: 'Sorbonne' } }] },
        { type: 'org', key: 'Sorbonne', properties: { city: 'Paris' } },
        { type: 'person', key: 'Irene Joliot-Curie', properties: { born: 1897, field: 'chemistry' }, edges: [{ rel: 'child_of', to: { type: 'person', key: 'Marie Curie' } }] },
      ],
    },
  });
  expect(e.status).toBe(201);
  expect((await node.call('POST', '/api/v1/resources', { tenant: T, body: { resources: [
    { uri: 'notes://radium', content: 'Radium was discovered in 1898 by Marie and Pierre Curie.', metadata: { lang: 'en' } },
    { uri: 'notes://polonium', content: 'Polonium was named after Poland.', metadata: { lang: 'en' } },
    { uri: 'notes://radium-fr', content: 'Le radium fut découvert en 1898.', metadata: { lang: 'fr' } },
  ] } })).status).toBe(201);
  expect((await node.call('POST', '/api/v1/moments', { tenant: T, body: { moments: [
    { summary: 'Nobel prize in physics', start_time: '1903-12-10T12:00:00Z', moment_type: 'award', people: ['Marie Curie', 'Pierre Curie'] },
    { summary: 'Nobel prize in chemistry', start_time: '1911-12-10T12:00:00Z', moment_type: 'award', people: ['Marie Curie'] },
  ] } })).status).toBe(201);
});
afterAll(async () => {
  await node.close();
});

describe('POST /api/v1/query', () => {
  it('LOOKUP returns entities by key (case- and space-insensitive), several keys, optional type', async () => {
    const r = await q("LOOKUP 'marie  curie', 'SORBONNE'");
    expect(r.status).toBe(200);
    expect(r.body.results.map((e: { key: string }) => e.key)).toEqual(['Marie Curie', 'Sorbonne']);
    expect(r.body.plan).toMatchObject({ op: 'lookup', access: { access: 'index_eq', index: 'ekey' } });
    expect(typeof r.body.took_ms).toBe('number');
    expect(r.body.truncated).toBe(false);
    const typed = await q("LOOKUP 'Sorbonne' TYPE 'person'");
    expect(typed.body.results).toEqual([]);
  });

  it('FUZZY tolerates typos and reports scores', async () => {
    const r = await q("FUZZY 'Mari Curi' THRESHOLD 0.4 LIMIT 2");
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toMatchObject({ key: 'Marie Curie', match: 'fuzzy' });
    expect(r.body.results[0].score).toBeGreaterThan(0);
    expect(r.body.results.length).toBeLessThanOrEqual(2);
  });

  it('SEARCH runs hybrid, keyword and vector search with a WHERE filter on the hits', async () => {
    for (const mode of ['hybrid', 'keyword', 'vector']) {
      const r = await q(`SEARCH 'radium discovered' IN resources MODE ${mode} WHERE metadata.lang = 'en' LIMIT 2`);
      expect(r.status).toBe(200);
      expect(r.body.results[0]).toMatchObject({ kind: 'resources', record: { uri: 'notes://radium' } });
      for (const h of r.body.results) expect(h.record.metadata.lang).toBe('en');
    }
    const pushed = await q("EXPLAIN SEARCH 'radium' IN resources WHERE uri LIKE 'notes://radium%'");
    expect(pushed.body.plan).toMatchObject({ op: 'search', pushed_filters: { uri_prefix: 'notes://radium' }, filter: "uri LIKE 'notes://radium%'" });
    const moments = await q("SEARCH 'nobel prize' IN moments WHERE start_time >= '1910-01-01'");
    expect(moments.body.results.map((h: { record: { summary: string } }) => h.record.summary)).toEqual(['Nobel prize in chemistry']);
  });

  it('TRAVERSE walks the graph from a key or an id, by direction and relation, with depth', async () => {
    const out = await q("TRAVERSE FROM 'Marie Curie' DEPTH 1 DIRECTION out");
    expect(out.body.results.map((n: { key: string; depth: number }) => [n.key, n.depth])).toEqual(
      expect.arrayContaining([['Marie Curie', 0], ['Pierre Curie', 1], ['Sorbonne', 1]]),
    );
    expect(out.body.results).toHaveLength(3);
    expect(out.body.edges).toHaveLength(2);
    const incoming = await q("TRAVERSE FROM 'marie curie' DIRECTION in TYPE 'child_of'");
    expect(incoming.body.results.map((n: { key: string }) => n.key).sort()).toEqual(['Irene Joliot-Curie', 'Marie Curie']);
    const id = incoming.body.results.find((n: { key: string }) => n.key === 'Irene Joliot-Curie').id;
    const two = await q('TRAVERSE FROM $1 DEPTH 2 DIRECTION out', [id]);
    expect(two.body.results.map((n: { key: string }) => n.key)).toEqual(expect.arrayContaining(['Pierre Curie', 'Sorbonne']));
    expect((await q("TRAVERSE FROM 'nobody'")).body.results).toEqual([]);
    // a key that several types share starts from each of them (the edge's target, city Paris, exists from the edge on)
    await node.call('POST', '/api/v1/entities', { tenant: T, body: { type: 'building', key: 'Sorbonne', edges: [{ rel: 'located_in', to: { type: 'city', key: 'Paris' } }] } });
    const shared = await q("TRAVERSE FROM 'sorbonne' DIRECTION out");
    expect(shared.body.results.map((n: { type: string; key: string; depth: number }) => `${n.type}/${n.key}/${n.depth}`).sort()).toEqual(['building/Sorbonne/0', 'city/Paris/1', 'org/Sorbonne/0']);
    expect(shared.body.edges).toHaveLength(1);
    const sharedIn = await q("TRAVERSE FROM 'sorbonne' DIRECTION in");
    expect(sharedIn.body.results.map((n: { key: string }) => n.key).sort()).toEqual(['Marie Curie', 'Pierre Curie', 'Sorbonne', 'Sorbonne']);
    expect(sharedIn.body.edges).toHaveLength(2);
  });

  it('SELECT projects fields, filters with parameters, orders, pages and aggregates', async () => {
    const r = await q("SELECT key, properties.born AS born FROM entities WHERE type = 'person' AND properties.born < $1 ORDER BY born DESC LIMIT 1 OFFSET 1", [1900]);
    expect(r.body.rows).toEqual([{ key: 'Marie Curie', born: 1867 }]);
    expect(r.body.plan).toMatchObject({ op: 'select', kind: 'entities', limit: 1, offset: 1, order: [{ by: 'properties.born', direction: 'desc' }], sorted_by: 'sort' });
    const agg = await q("SELECT properties.field AS field, COUNT(*) AS n, MIN(properties.born), MAX(properties.born) FROM entities WHERE type = 'person' GROUP BY properties.field ORDER BY n DESC");
    expect(agg.body.rows).toEqual([
      { field: 'physics', n: 2, 'min(properties.born)': 1859, 'max(properties.born)': 1867 },
      { field: 'chemistry', n: 1, 'min(properties.born)': 1897, 'max(properties.born)': 1897 },
    ]);
    const total = await q('SELECT COUNT(*), AVG(properties.born) FROM entities WHERE properties.born IS NOT NULL');
    expect(total.body.rows).toEqual([{ 'count(*)': 3, 'avg(properties.born)': (1867 + 1859 + 1897) / 3 }]);
    const inList = await q('SELECT uri FROM resources WHERE metadata.lang IN $1 AND NOT uri LIKE $2 ORDER BY uri', [['en', 'fr'], '%fr']);
    expect(inList.body.rows).toEqual([{ uri: 'notes://polonium' }, { uri: 'notes://radium' }]);
    const star = await q("SELECT * FROM moments WHERE moment_type = 'award' ORDER BY start_time LIMIT 1");
    expect(star.body.rows[0]).toMatchObject({ summary: 'Nobel prize in physics', start_time: '1903-12-10T12:00:00.000Z' });
  });

  it('EXPLAIN returns the plan and runs nothing', async () => {
    const r = await q("EXPLAIN SELECT key FROM entities WHERE type = 'org' AND key = 'sorbonne'");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ plan: expect.objectContaining({ op: 'select', access: { access: 'index_eq', index: 'ekey', types: ['org'], keys: ['sorbonne'] } }), took_ms: expect.any(Number) });
  });
});

describe('POST /api/v1/query: bad queries are 400s that say where and why', () => {
  it('syntax errors carry line, column, expected and found', async () => {
    const r = await q("SELECT key\nFROM entities\nWHERE key = 'a' AND");
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_query', details: { line: 3, column: 20, expected: ['NOT', "'('", 'a field'], found: 'end of query' } });
    expect(r.body.error.message).toBe("line 3, column 20: expected NOT, '(' or a field, found end of query");
  });

  it('unknown fields, unbound or mistyped parameters and bad limits are planning errors with positions', async () => {
    const unknown = await q('SELECT * FROM entities WHERE age > 3');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^line 1, column 30: unknown field 'age' of entities \(entity attributes live under properties: properties\.age\)/);
    const unbound = await q('SELECT * FROM entities WHERE key = $2', ['a']);
    expect(unbound.body.error).toMatchObject({ code: 'invalid_query', details: { line: 1, column: 36 } });
    expect(unbound.body.error.message).toMatch(/parameter \$2 is not bound \(1 given\)/);
    const badLimit = await q('SELECT * FROM entities LIMIT $1', ['ten']);
    expect(badLimit.body.error.message).toMatch(/column 30: LIMIT must be an integer/);
    const badTime = await q("SELECT * FROM moments WHERE start_time > 'soon'");
    expect(badTime.body.error.message).toMatch(/start_time compares with a date/);
    const notGrouped = await q('SELECT key, COUNT(*) FROM entities');
    expect(notGrouped.body.error.message).toMatch(/key must appear in GROUP BY/);
    const badDepth = await q("TRAVERSE FROM 'x' DEPTH 11");
    expect(badDepth.body.error.message).toMatch(/DEPTH must be an integer in \[1, 10\]/);
  });

  it('the body is validated strictly and the tenant header is required; unknown tenants are 404', async () => {
    expect((await node.call('POST', '/api/v1/query', { tenant: T, body: { query: 'LOOKUP 1', extra: true } })).status).toBe(400);
    expect((await node.call('POST', '/api/v1/query', { tenant: T, body: { query: 'LOOKUP $1', params: [{ a: 1 }] } })).status).toBe(400);
    expect((await q("LOOKUP 'a'", undefined, null)).body.error.code).toBe('missing_tenant');
    expect((await q("LOOKUP 'a'", undefined, 'nobody-here')).status).toBe(404);
  });
});

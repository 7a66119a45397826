// The schema registry through a real node: definitions per entity type, 422 with the failing paths, secondary indexes
// built for existing entities and used by the planner, replaced and dropped with the schema, kept across restarts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_INDEX_PREFIX, prefixEnd } from '../shared/store/keys.js';
import { startNode, type TestNode } from './support/api.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';

let node: TestNode;
let dataDir: string;
let cleanup: () => Promise<void>;
const T = 'schemas';

const PERSON = {
  schema: {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string' },
      age: { type: 'integer', minimum: 0 },
      email: { type: 'string', format: 'email' },
      address: { type: 'object', properties: { city: { type: 'string' } } },
    },
  },
  key_field: 'email',
  indexed_fields: ['age', 'address.city'],
  embedding_fields: ['name'],
};

const call = (method: string, path: string, body?: unknown) => node.call(method, path, { tenant: T, body });
const explain = async (q: string) => (await call('POST', '/api/v1/query', { query: `EXPLAIN ${q}` })).body.plan.access;

async function sidxKeys(dir: string): Promise<string[]> {
  const store = await openStore(dir, T);
  try {
    return await store.keys('idx', { gte: SCHEMA_INDEX_PREFIX, lt: prefixEnd(SCHEMA_INDEX_PREFIX) }).all();
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  ({ dir: dataDir, cleanup } = await tempDir());
  node = await startNode({}, { dataDir });
});
afterAll(async () => {
  await node.close();
  await cleanup();
});

describe('schema registry', () => {
  it('builds indexes for entities written before the schema, and reports those that violate it', async () => {
    const people = [
      { type: 'person', key: 'ada@example.com', properties: { name: 'Ada', age: 36, email: 'ada@example.com', address: { city: 'London' } } },
      { type: 'person', key: 'alan@example.com', properties: { name: 'Alan', age: 41, address: { city: 'Manchester' } } },
      { type: 'person', key: 'grace@example.com', properties: { age: 'eighty' } },
      { type: 'robot', key: 'r2', properties: { age: 40 } },
    ];
    expect((await call('POST', '/api/v1/entities', { entities: people })).status).toBe(201);
    expect(await explain("SELECT * FROM entities WHERE type = 'person' AND properties.age > 40")).toEqual({ access: 'index_prefix', index: 'ekey', types: ['person'] });

    const put = await call('PUT', '/api/v1/schemas/person', PERSON);
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ type: 'person', key_field: 'email', indexed_fields: ['age', 'address.city'], embedding_fields: ['name'], indexed: 3, violations: 1 });
    expect(put.body.violation_samples).toEqual([
      {
        id: expect.any(String),
        key: 'grace@example.com',
        errors: [
          { path: '/properties/name', message: "must have required property 'name'", keyword: 'required' },
          { path: '/properties/age', message: 'must be integer', keyword: 'type' },
        ],
      },
    ]);

    expect(await explain("SELECT * FROM entities WHERE type = 'person' AND properties.age > 40")).toEqual({ access: 'index_range', index: 'person.age', range: { '>': 40 } });
    const older = await call('POST', '/api/v1/query', { query: "SELECT key FROM entities WHERE type = 'person' AND properties.age > 40" });
    expect(older.body.rows).toEqual([{ key: 'alan@example.com' }]);
    expect(older.body.stats.records_read).toBe(1);
    const city = await call('POST', '/api/v1/query', { query: "SELECT key FROM entities WHERE type = 'Person' AND properties.address.city = 'London'" });
    expect(city.body.plan.access).toEqual({ access: 'index_eq', index: 'person.address.city', values: ['London'] });
    expect(city.body.rows).toEqual([{ key: 'ada@example.com' }]);
    // other types are not indexed by this schema
    expect(await explain("SELECT * FROM entities WHERE type = 'robot' AND properties.age > 1")).toMatchObject({ index: 'ekey' });
  });

  it('rejects writes that violate the schema with 422 and every failing path', async () => {
    const bad = await call('POST', '/api/v1/entities', {
      type: 'Person',
      key: 'x@example.com',
      properties: { age: -3, email: 'y@example.com', address: { city: 7 } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('schema_violation');
    expect(bad.body.error.message).toMatch(/violates the schema of type 'person'/);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(
      ['/properties/address/city', '/properties/age', '/properties/email', '/properties/name'].sort(),
    );
    expect(bad.body.error.details.find((d: { path: string }) => d.path === '/properties/email').keyword).toBe('key_field');
    // nothing was written
    const look = await call('GET', '/api/v1/entities?key=x%40example.com');
    expect(look.body.results).toEqual([]);

    // a merge that breaks a stored entity is rejected too; a conforming one goes through
    const merge = await call('POST', '/api/v1/entities', { type: 'person', key: 'ada@example.com', properties: { age: 'old' } });
    expect(merge.status).toBe(422);
    expect(merge.body.error.details).toEqual([{ path: '/properties/age', message: 'must be integer', keyword: 'type' }]);
    const ok = await call('POST', '/api/v1/entities', { type: 'person', key: 'ada@example.com', properties: { age: 37 } });
    expect(ok.status).toBe(201);
    const byAge = await call('POST', '/api/v1/query', { query: "SELECT key, properties.age FROM entities WHERE type = 'person' AND properties.age = 37" });
    expect(byAge.body.rows).toEqual([{ key: 'ada@example.com', 'properties.age': 37 }]);
    const stale = await call('POST', '/api/v1/query', { query: "SELECT key FROM entities WHERE type = 'person' AND properties.age = 36" });
    expect(stale.body.rows).toEqual([]);
    expect(stale.body.stats.index_entries_read).toBe(0);
  });

  it('reads definitions back, lists them, and answers 404 for unknown types', async () => {
    const got = await call('GET', '/api/v1/schemas/PERSON');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ type: 'person', schema: PERSON.schema, indexed_fields: PERSON.indexed_fields });
    const list = await call('GET', '/api/v1/schemas');
    expect(list.body.schemas.map((s: { type: string }) => s.type)).toEqual(['person']);
    expect((await call('GET', '/api/v1/schemas/planet')).status).toBe(404);
    expect((await call('DELETE', '/api/v1/schemas/planet')).status).toBe(404);
  });

  it('embeds entities of a type with embedding_fields from those fields only (keyword search still sees all)', async () => {
    expect((await call('PUT', '/api/v1/schemas/paper', { schema: { type: 'object' }, embedding_fields: ['title'] })).status).toBe(201);
    const properties = { title: 'quantum gravity', notes: 'banana bread recipe' };
    expect((await call('POST', '/api/v1/entities', { entities: [{ type: 'paper', key: 'p1', properties }, { type: 'memo', key: 'm1', properties }] })).status).toBe(201);
    const search = async (text: string, mode: string) =>
      (await call('POST', '/api/v1/query', { query: `SEARCH $1 IN entities MODE ${mode} WHERE type IN ('paper', 'memo')`, params: [text] })).body.results as { score: number; record: { type: string } }[];
    const byType = (hits: { score: number; record: { type: string } }[]) => Object.fromEntries(hits.map((h) => [h.record.type, h.score]));
    const bread = byType(await search('banana bread recipe', 'vector'));
    expect(bread.memo).toBeGreaterThan(0.3);
    expect(bread.paper ?? 0).toBeLessThan(bread.memo! / 2);
    const physics = byType(await search('quantum gravity', 'vector'));
    expect(physics.paper).toBeGreaterThan(physics.memo!);
    expect(Object.keys(byType(await search('banana bread', 'keyword'))).sort()).toEqual(['memo', 'paper']);
    expect((await call('DELETE', '/api/v1/schemas/paper')).status).toBe(204);
  });

  it('rejects invalid definitions with 400', async () => {
    const notSchema = await call('PUT', '/api/v1/schemas/thing', { schema: { type: 'nonsense' } });
    expect(notSchema.status).toBe(400);
    expect(notSchema.body.error.message).toMatch(/not a valid JSON Schema/);
    const badField = await call('PUT', '/api/v1/schemas/thing', { schema: {}, indexed_fields: ['a b'] });
    expect(badField.status).toBe(400);
    const unknown = await call('PUT', '/api/v1/schemas/thing', { schema: {}, indexes: ['a'] });
    expect(unknown.status).toBe(400);
    expect((await call('GET', '/api/v1/schemas/thing')).status).toBe(404);
  });

  it('keeps schemas and indexes across a restart, replaces indexes with the schema, and drops them on delete', async () => {
    await node.close();
    expect((await sidxKeys(dataDir)).length).toBe(5); // age x3 (Grace's text age is indexed as a string), city x2
    node = await startNode({}, { dataDir });
    const bad = await call('POST', '/api/v1/entities', { type: 'person', key: 'z@example.com', properties: { name: 7 } });
    expect(bad.status).toBe(422);
    expect(await explain("SELECT * FROM entities WHERE type = 'person' AND properties.age = 1")).toMatchObject({ index: 'person.age' });

    const replaced = await call('PUT', '/api/v1/schemas/person', { ...PERSON, indexed_fields: ['name'] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.created_at).toBeDefined();
    expect(await explain("SELECT * FROM entities WHERE type = 'person' AND properties.age = 1")).toMatchObject({ index: 'ekey' });
    const byName = await call('POST', '/api/v1/query', { query: "SELECT key FROM entities WHERE type = 'person' AND properties.name IN ('Ada', 'Alan') ORDER BY key" });
    expect(byName.body.plan.access).toMatchObject({ access: 'index_eq', index: 'person.name' });
    expect(byName.body.rows).toEqual([{ key: 'ada@example.com' }, { key: 'alan@example.com' }]);

    expect((await call('DELETE', '/api/v1/schemas/person')).status).toBe(204);
    expect((await call('GET', '/api/v1/schemas/person')).status).toBe(404);
    expect(await explain("SELECT * FROM entities WHERE type = 'person' AND properties.name = 'Ada'")).toMatchObject({ index: 'ekey' });
    const free = await call('POST', '/api/v1/entities', { type: 'person', key: 'z@example.com', properties: { name: 7 } });
    expect(free.status).toBe(201);
    await node.close();
    expect(await sidxKeys(dataDir)).toEqual([]);
    node = await startNode({}, { dataDir });
  });
});

// The query executor through a real node: results of random queries equal a brute-force evaluation (written here,
// independently of the engine) over the same data, whichever access path the planner picks; EXPLAIN and the read
// counters show that indexes are used; bounds stop queries and say so.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';

let node: TestNode;
const TENANT = 'qexec';
const N_ENTITIES = 400;
const CITIES = ['Paris', 'Berlin', 'Rome', 'Oslo', 'Lima', 'paris', 'Porto'];
const NAMES = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Ada Lovelace', 'alan'];
const TAGS = ['red', 'green', 'blue', 'gold'];

/** Small deterministic generator for the data set (the queries come from fast-check). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function call(method: string, path: string, body?: unknown) {
  const res = await node.call(method, path, { tenant: TENANT, body });
  return res;
}

async function query(q: string, params: unknown[] = []) {
  const res = await call('POST', '/api/v1/query', { query: q, params });
  if (res.status !== 200) throw new Error(`${res.status} ${JSON.stringify(res.body)} for ${q}`);
  return res.body;
}

type Rec = Record<string, any>;
let entities: Rec[] = [];
let moments: Rec[] = [];
let resources: Rec[] = [];

function entityInput(r: () => number, i: number, type: string) {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const properties: Rec = {};
  const a = r();
  if (a < 0.75) properties.age = Math.floor(r() * 100);
  else if (a < 0.85) properties.age = 'unknown';
  if (r() < 0.8) properties.score = Math.round(r() * 10000) / 100;
  if (r() < 0.85) properties.city = pick(CITIES);
  if (r() < 0.6) properties.tags = TAGS.filter(() => r() < 0.4);
  if (r() < 0.5) properties.active = r() < 0.5;
  return { type, key: `e${i}`, name: pick(NAMES), properties };
}

beforeAll(async () => {
  node = await startNode();
  const r = rng(7);
  const inputs = Array.from({ length: N_ENTITIES }, (_, i) => entityInput(r, i, r() < 0.7 ? 'person' : 'org'));
  // half before the schemas exist (their indexes are backfilled), half after (the write hook maintains them)
  expect((await call('POST', '/api/v1/entities', { entities: inputs.slice(0, 200) })).status).toBe(201);
  const person = await call('PUT', '/api/v1/schemas/person', { schema: { type: 'object' }, indexed_fields: ['age', 'city', 'tags', 'active'] });
  expect(person.status).toBe(201);
  expect(person.body.indexed).toBeGreaterThan(100);
  expect((await call('PUT', '/api/v1/schemas/org', { schema: { type: 'object' }, indexed_fields: ['age'] })).status).toBe(201);
  expect((await call('POST', '/api/v1/entities', { entities: inputs.slice(200) })).status).toBe(201);
  // updates (merges change and remove indexed values) and deletes
  const updates = Array.from({ length: 80 }, () => {
    const i = Math.floor(r() * N_ENTITIES);
    const next = entityInput(r, i, inputs[i]!.type);
    const props: Rec = { ...next.properties };
    for (const k of ['age', 'city', 'tags']) if (!(k in props) && r() < 0.5) props[k] = null;
    return { type: inputs[i]!.type, key: `E${i} `, properties: props };
  });
  expect((await call('POST', '/api/v1/entities', { entities: updates })).status).toBe(201);
  const ids: string[] = (await call('POST', '/api/v1/entities', { entities: inputs.map((e) => ({ type: e.type, key: e.key })) })).body.ids;
  for (const id of ids.filter(() => r() < 0.08)) expect((await call('DELETE', `/api/v1/entities/${id}`)).status).toBe(204);
  const got = await Promise.all(ids.map((id) => call('GET', `/api/v1/entities/${id}`)));
  entities = got.filter((g) => g.status === 200).map((g) => g.body);

  const mInputs = Array.from({ length: 150 }, (_, i) => ({
    id: `m${i}`,
    summary: `moment ${i}`,
    moment_type: ['meeting', 'call', 'note'][i % 3],
    start_time: new Date(Date.UTC(2024, 0, 1) + Math.floor(r() * 365) * 86_400_000 + Math.floor(r() * 24) * 3_600_000).toISOString(),
    tags: TAGS.filter(() => r() < 0.3),
  }));
  expect((await call('POST', '/api/v1/moments', { moments: mInputs })).status).toBe(201);
  const rInputs = Array.from({ length: 150 }, (_, i) => ({
    uri: `doc://${'abcde'[i % 5]}/${Math.floor(i / 5)}`,
    chunk_ordinal: i % 2,
    content: `resource ${i}`,
    metadata: { lang: i % 3 === 0 ? 'en' : 'de', n: i },
  }));
  expect((await call('POST', '/api/v1/resources', { resources: rInputs })).status).toBe(201);
  moments = (await query('SELECT * FROM moments LIMIT 1000')).rows;
  resources = (await query('SELECT * FROM resources LIMIT 1000')).rows;
  expect(moments).toHaveLength(150);
  expect(resources.length).toBeGreaterThan(100);
}, 120_000);

afterAll(async () => {
  await node.close();
});

// ---------------------------------------------------------------------------------------------- brute-force oracle

type Pred =
  | { t: 'cmp'; f: string; op: string; v: unknown }
  | { t: 'in'; f: string; vs: unknown[]; neg: boolean }
  | { t: 'like'; f: string; p: string; neg: boolean }
  | { t: 'null'; f: string; neg: boolean }
  | { t: 'and' | 'or'; a: Pred; b: Pred }
  | { t: 'not'; a: Pred };

const lit = (v: unknown) => (typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v));

function render(p: Pred): string {
  switch (p.t) {
    case 'cmp':
      return `${p.f} ${p.op} ${lit(p.v)}`;
    case 'in':
      return `${p.f}${p.neg ? ' NOT' : ''} IN (${p.vs.map(lit).join(', ')})`;
    case 'like':
      return `${p.f}${p.neg ? ' NOT' : ''} LIKE ${lit(p.p)}`;
    case 'null':
      return `${p.f} IS${p.neg ? ' NOT' : ''} NULL`;
    case 'and':
    case 'or':
      return `(${render(p.a)} ${p.t.toUpperCase()} ${render(p.b)})`;
    case 'not':
      return `NOT (${render(p.a)})`;
  }
}

const TIME = new Set(['start_time', 'created_at', 'updated_at']);
function value(rec: Rec, f: string): unknown {
  let v: unknown = rec;
  for (const seg of f.split('.')) v = v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec)[seg] : undefined;
  if (TIME.has(f) && typeof v === 'string') return Date.parse(v);
  if (f === 'type' || f === 'key') return typeof v === 'string' ? v.toLowerCase().trim() : v;
  return v;
}
const norm = (f: string, v: unknown) => (TIME.has(f) && typeof v === 'string' ? Date.parse(v) : (f === 'type' || f === 'key') && typeof v === 'string' ? v.toLowerCase().trim() : v);
const some = (v: unknown, test: (x: unknown) => boolean) => (Array.isArray(v) ? v.some(test) : test(v));
function ordered(op: string, a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || typeof a !== typeof b || typeof a === 'object') return false;
  const x = a as number;
  const y = b as number;
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function holds(p: Pred, rec: Rec): boolean {
  switch (p.t) {
    case 'cmp': {
      const v = value(rec, p.f);
      const w = norm(p.f, p.v);
      if (p.op === '=') return some(v, (x) => x === w);
      if (p.op === '!=') return !some(v, (x) => x === w);
      return some(v, (x) => ordered(p.op, x, w));
    }
    case 'in': {
      const v = value(rec, p.f);
      const r = some(v, (x) => p.vs.some((w) => x === norm(p.f, w)));
      return p.neg ? !r : r;
    }
    case 'like': {
      const pattern = p.f === 'key' ? p.p.toLowerCase() : p.p;
      const re = new RegExp(`^${pattern.replace(/%/g, '.*').replace(/_/g, '.')}$`);
      const r = some(value(rec, p.f), (x) => typeof x === 'string' && re.test(x));
      return p.neg ? !r : r;
    }
    case 'null': {
      const v = value(rec, p.f);
      const r = v === undefined || v === null;
      return p.neg ? !r : r;
    }
    case 'and':
      return holds(p.a, rec) && holds(p.b, rec);
    case 'or':
      return holds(p.a, rec) || holds(p.b, rec);
    case 'not':
      return !holds(p.a, rec);
  }
}

function rank(v: unknown): number {
  return v === undefined || v === null ? 0 : typeof v === 'boolean' ? 1 : typeof v === 'number' ? 2 : typeof v === 'string' ? 3 : 4;
}
function compare(a: unknown, b: unknown): number {
  const d = rank(a) - rank(b);
  if (d !== 0) return d;
  if (rank(a) === 2 || rank(a) === 1) return Number(a) - Number(b);
  if (rank(a) === 3) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  if (rank(a) === 4) return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
  return 0;
}

// ------------------------------------------------------------------------------------------------------ generators

const ops = fc.constantFrom('=', '!=', '<', '<=', '>', '>=');
const cityPrefix = fc.constantFrom(...CITIES).chain((c) => fc.integer({ min: 1, max: 3 }).map((n) => c.slice(0, n)));
const entityLeaf: fc.Arbitrary<Pred> = fc.oneof(
  fc.record({ t: fc.constant('cmp' as const), f: fc.constantFrom('properties.age', 'properties.score'), op: ops, v: fc.integer({ min: -5, max: 105 }) }),
  fc.record({ t: fc.constant('cmp' as const), f: fc.constantFrom('properties.city', 'name'), op: ops, v: fc.constantFrom(...CITIES, ...NAMES, 'M') }),
  fc.record({ t: fc.constant('cmp' as const), f: fc.constant('properties.tags'), op: fc.constantFrom('=', '!=', '>='), v: fc.constantFrom(...TAGS) }),
  fc.record({ t: fc.constant('cmp' as const), f: fc.constant('properties.active'), op: fc.constantFrom('=', '!='), v: fc.boolean() }),
  fc.record({ t: fc.constant('cmp' as const), f: fc.constant('key'), op: fc.constantFrom('=', '<', '>='), v: fc.integer({ min: 0, max: 399 }).map((i) => (i % 2 ? `E${i}` : `e${i}`)) }),
  fc.record({ t: fc.constant('in' as const), f: fc.constant('properties.age'), vs: fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 4 }), neg: fc.boolean() }),
  fc.record({ t: fc.constant('in' as const), f: fc.constantFrom('properties.city', 'properties.tags'), vs: fc.array(fc.constantFrom(...CITIES, ...TAGS), { minLength: 1, maxLength: 3 }), neg: fc.boolean() }),
  fc.record({ t: fc.constant('like' as const), f: fc.constantFrom('properties.city', 'name'), p: fc.oneof(cityPrefix.map((p) => `${p}%`), fc.constantFrom('%a', '%ar%', 'A%e%')), neg: fc.boolean() }),
  fc.record({ t: fc.constant('like' as const), f: fc.constant('key'), p: fc.constantFrom('E1%', 'e2%', 'e3_'), neg: fc.constant(false) }),
  fc.record({ t: fc.constant('null' as const), f: fc.constantFrom('properties.age', 'properties.city', 'properties.tags'), neg: fc.boolean() }),
  fc.record({ t: fc.constant('cmp' as const), f: fc.constant('type'), op: fc.constant('='), v: fc.constantFrom('person', 'org', 'Person') }),
);

function predicate(leaf: fc.Arbitrary<Pred>): fc.Arbitrary<Pred> {
  const { tree } = fc.letrec<{ tree: Pred }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.record({ t: fc.constantFrom('and' as const, 'or' as const), a: tie('tree'), b: tie('tree') }),
      fc.record({ t: fc.constant('not' as const), a: tie('tree') }),
    ),
  }));
  return tree;
}

const accessSeen = new Map<string, number>();
const note = (plan: { access: { access: string; index?: string } }) => {
  const k = `${plan.access.access}:${plan.access.index ?? ''}`;
  accessSeen.set(k, (accessSeen.get(k) ?? 0) + 1);
};

describe('executor equals brute force on random data and queries', () => {
  it('entities: filters (with and without a type, so schema indexes and ekey apply), ORDER BY, LIMIT', async () => {
    await fc.assert(
      fc.asyncProperty(
        predicate(entityLeaf),
        fc.constantFrom('', 'person', 'org'),
        fc.option(fc.record({ f: fc.constantFrom('properties.age', 'properties.city', 'name', 'properties.score'), desc: fc.boolean() }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
        async (pred, type, order, limit) => {
          const full: Pred = type ? { t: 'and', a: { t: 'cmp', f: 'type', op: '=', v: type }, b: pred } : pred;
          const q = `SELECT id, ${order ? order.f : 'key'} FROM entities WHERE ${render(full)}` + (order ? ` ORDER BY ${order.f} ${order.desc ? 'DESC' : 'ASC'}` : '') + (limit !== undefined ? ` LIMIT ${limit}` : '');
          const res = await query(q);
          note(res.plan);
          expect(res.truncated).toBe(false);
          const expected = entities.filter((e) => holds(full, e));
          const got: Rec[] = res.rows;
          const gotIds = got.map((row) => row.id);
          expect(new Set(gotIds).size).toBe(gotIds.length);
          if (limit === undefined) expect(new Set(gotIds)).toEqual(new Set(expected.map((e) => e.id)));
          else {
            expect(got.length).toBe(Math.min(limit, expected.length));
            const allowed = new Set(expected.map((e) => e.id));
            for (const id of gotIds) expect(allowed.has(id)).toBe(true);
          }
          if (order) {
            // (Array.prototype.sort moves undefined to the end without asking the comparator: sort boxed values)
            const keys = expected.map((e) => ({ k: value(e, order.f) })).sort((a, b) => compare(a.k, b.k)).map((x) => x.k);
            if (order.desc) keys.reverse();
            const gotKeys = got.map((row) => (row[order.f] === null ? undefined : row[order.f]));
            expect(gotKeys.map((k) => rank(k) + ':' + String(k))).toEqual(keys.slice(0, got.length).map((k) => rank(k) + ':' + String(k)));
          }
        },
      ),
      { numRuns: 250 },
    );
    // the random queries went through the schema indexes, the entity-key index and full scans alike
    const kinds = [...accessSeen.keys()];
    expect(kinds.some((k) => k.startsWith('index_eq:person.') || k.startsWith('index_range:person.'))).toBe(true);
    expect(kinds.some((k) => k.endsWith(':ekey'))).toBe(true);
    expect(kinds).toContain('full_scan:');
  }, 120_000);

  it('entities: aggregates with GROUP BY equal brute force', async () => {
    await fc.assert(
      fc.asyncProperty(predicate(entityLeaf), async (pred) => {
        const q = `SELECT type, COUNT(*) AS n, COUNT(properties.city) AS nc, SUM(properties.age) AS s, AVG(properties.score) AS a, MIN(properties.city) AS lo, MAX(properties.age) AS hi FROM entities WHERE ${render(pred)} GROUP BY type ORDER BY type`;
        const res = await query(q);
        const groups = new Map<string, Rec[]>();
        for (const e of entities.filter((x) => holds(pred, x))) groups.set(e.type, [...(groups.get(e.type) ?? []), e]);
        const want = [...groups.entries()]
          .sort((a, b) => (a[0] < b[0] ? -1 : 1))
          .map(([type, es]) => {
            const ages = es.map((e) => e.properties.age).filter((v) => typeof v === 'number');
            const scores = es.map((e) => e.properties.score).filter((v) => typeof v === 'number');
            const cities = es.map((e) => e.properties.city).filter((v) => v !== undefined);
            const allAges = es.map((e) => e.properties.age).filter((v) => v !== undefined);
            return {
              type,
              n: es.length,
              nc: cities.length,
              s: ages.length ? ages.reduce((x, y) => x + y, 0) : null,
              a: scores.length ? scores.reduce((x, y) => x + y, 0) / scores.length : null,
              lo: cities.length ? [...cities].sort(compare)[0] : null,
              hi: allAges.length ? [...allAges].sort(compare).at(-1) : null,
            };
          });
        expect(res.rows.length).toBe(want.length);
        res.rows.forEach((row: Rec, i: number) => {
          const w = want[i]!;
          expect({ ...row, a: null }).toEqual({ ...w, a: null });
          if (w.a === null) expect(row.a).toBeNull();
          else expect(row.a).toBeCloseTo(w.a, 9);
        });
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('moments and resources: time and uri predicates (mtime and ruri indexes), ORDER BY start_time / uri with LIMIT', async () => {
    const day = fc.integer({ min: 0, max: 370 }).map((d) => new Date(Date.UTC(2024, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
    const momentLeaf: fc.Arbitrary<Pred> = fc.oneof(
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('start_time'), op: ops, v: day }),
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('moment_type'), op: fc.constantFrom('=', '!='), v: fc.constantFrom('meeting', 'call', 'note') }),
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('tags'), op: fc.constant('='), v: fc.constantFrom(...TAGS) }),
    );
    const uri = fc.tuple(fc.constantFrom(...'abcde'), fc.integer({ min: 0, max: 35 })).map(([g, n]) => `doc://${g}/${n}`);
    const resourceLeaf: fc.Arbitrary<Pred> = fc.oneof(
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('uri'), op: ops, v: uri }),
      fc.record({ t: fc.constant('like' as const), f: fc.constant('uri'), p: fc.constantFrom('doc://a/%', 'doc://b/1%', 'doc://%/2', 'doc://c%'), neg: fc.constant(false) }),
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('metadata.lang'), op: fc.constant('='), v: fc.constantFrom('en', 'de') }),
      fc.record({ t: fc.constant('cmp' as const), f: fc.constant('chunk_ordinal'), op: ops, v: fc.integer({ min: 0, max: 1 }) }),
    );
    const cases = [
      { kind: 'moments', leaf: momentLeaf, field: 'start_time', data: () => moments },
      { kind: 'resources', leaf: resourceLeaf, field: 'uri', data: () => resources },
    ] as const;
    for (const c of cases) {
      await fc.assert(
        fc.asyncProperty(predicate(c.leaf), fc.boolean(), fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }), async (pred, desc, limit) => {
          const q = `SELECT id, ${c.field} FROM ${c.kind} WHERE ${render(pred)} ORDER BY ${c.field} ${desc ? 'DESC' : 'ASC'}${limit ? ` LIMIT ${limit}` : ''}`;
          const res = await query(q);
          note(res.plan);
          const expected = c.data().filter((r) => holds(pred, r));
          const keys = expected.map((r) => r[c.field] as string).sort();
          if (desc) keys.reverse();
          expect(res.rows.map((r: Rec) => r[c.field])).toEqual(keys.slice(0, limit ?? keys.length));
          const allowed = new Set(expected.map((r) => r.id));
          for (const r of res.rows) expect(allowed.has(r.id)).toBe(true);
        }),
        { numRuns: 80 },
      );
    }
    expect([...accessSeen.keys()].filter((k) => /:(mtime|ruri)$/.test(k)).length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});

describe('index use: EXPLAIN and counted reads', () => {
  const persons = () => entities.filter((e) => e.type === 'person');

  it('equality on an indexed property reads only the matching records', async () => {
    const age = persons().find((e) => typeof e.properties.age === 'number')!.properties.age as number;
    const q = `SELECT id FROM entities WHERE type = 'person' AND properties.age = ${age}`;
    const explained = await query(`EXPLAIN ${q}`);
    expect(explained.plan.access).toEqual({ access: 'index_eq', index: 'person.age', values: [age] });
    expect(explained.rows).toBeUndefined();
    const res = await query(q);
    const want = persons().filter((e) => e.properties.age === age).length;
    expect(res.rows).toHaveLength(want);
    expect(res.stats).toEqual({ index_entries_read: want, records_read: want, rows_scanned: want, rows_matched: want });
  });

  it('the same predicate on an unindexed property scans every person (ekey type prefix), or everything without a type', async () => {
    const score = persons().find((e) => typeof e.properties.score === 'number')!.properties.score as number;
    const typed = await query(`SELECT id FROM entities WHERE type = 'person' AND properties.score = ${score}`);
    expect(typed.plan.access).toEqual({ access: 'index_prefix', index: 'ekey', types: ['person'] });
    expect(typed.stats.records_read).toBe(persons().length);
    const untyped = await query(`SELECT id FROM entities WHERE properties.score = ${score}`);
    expect(untyped.plan.access).toEqual({ access: 'full_scan' });
    expect(untyped.stats.records_read).toBe(entities.length);
    expect(untyped.stats.index_entries_read).toBe(0);
  });

  it('ranges use index_range; two-sided ranges read only the rows in range', async () => {
    const q = "SELECT id FROM entities WHERE type = 'person' AND properties.age >= 20 AND properties.age < 25";
    const res = await query(q);
    expect(res.plan.access).toEqual({ access: 'index_range', index: 'person.age', range: { '>=': 20, '<': 25 } });
    const want = persons().filter((e) => typeof e.properties.age === 'number' && e.properties.age >= 20 && e.properties.age < 25).length;
    expect(res.rows).toHaveLength(want);
    expect(res.stats.records_read).toBe(want);
    const like = await query("EXPLAIN SELECT id FROM entities WHERE type = 'person' AND properties.city LIKE 'Pa%'");
    expect(like.plan.access).toEqual({ access: 'index_range', index: 'person.city', like_prefix: 'Pa' });
  });

  it('entity key, id, resource uri and moment time use their indexes', async () => {
    const e = persons()[0]!;
    const byKey = await query(`SELECT id FROM entities WHERE type = 'person' AND key = $1`, [e.key.toUpperCase()]);
    expect(byKey.plan.access).toEqual({ access: 'index_eq', index: 'ekey', types: ['person'], keys: [e.key] });
    expect(byKey.rows).toEqual([{ id: e.id }]);
    expect(byKey.stats.records_read).toBe(1);
    const byId = await query('SELECT key FROM entities WHERE id IN ($1, $2)', [e.id, '0'.repeat(32)]);
    expect(byId.plan.access.index).toBe('id');
    expect(byId.rows).toEqual([{ key: e.key }]);
    const uri = await query("SELECT id FROM resources WHERE uri = 'doc://a/3'");
    expect(uri.plan.access).toEqual({ access: 'index_eq', index: 'ruri', values: ['doc://a/3'] });
    expect(uri.stats.records_read).toBe(uri.rows.length);
    expect(uri.rows.length).toBe(resources.filter((r) => r.uri === 'doc://a/3').length);
    const march = await query("SELECT id FROM moments WHERE start_time >= '2024-03-01' AND start_time < '2024-04-01'");
    expect(march.plan.access).toMatchObject({ access: 'index_range', index: 'mtime', range: { '>=': '2024-03-01T00:00:00.000Z', '<': '2024-04-01T00:00:00.000Z' } });
    expect(march.stats.records_read).toBe(march.rows.length);
  });

  it('ORDER BY start_time DESC LIMIT reads the time index backwards and stops at the limit', async () => {
    const res = await query('SELECT id, start_time FROM moments ORDER BY start_time DESC LIMIT 3');
    expect(res.plan.access).toEqual({ access: 'index_scan', index: 'mtime', order: 'desc' });
    expect(res.plan.order).toEqual([{ by: 'start_time', direction: 'desc' }]);
    expect(res.plan.sorted_by).toBe('index');
    expect(res.rows.map((r: Rec) => r.start_time)).toEqual(moments.map((m) => m.start_time).sort().reverse().slice(0, 3));
    expect(res.stats.records_read).toBeLessThanOrEqual(4);
  });
});

describe('sorting more rows than a page', () => {
  it('keeps only the best offset + limit rows while scanning and still returns the exact page', async () => {
    const r = rng(99);
    const ns = Array.from({ length: 3000 }, () => Math.floor(r() * 1_000_000));
    const es = ns.map((n, i) => ({ type: 'row', key: `r${i}`, properties: { n } }));
    for (let i = 0; i < es.length; i += 1000) expect((await node.call('POST', '/api/v1/entities', { tenant: 'topk', body: { entities: es.slice(i, i + 1000) } })).status).toBe(201);
    const sorted = [...ns].sort((a, b) => b - a);
    const page = await node.call('POST', '/api/v1/query', { tenant: 'topk', body: { query: 'SELECT properties.n AS n FROM entities ORDER BY properties.n DESC LIMIT 5 OFFSET 3' } });
    expect(page.body.rows.map((x: Rec) => x.n)).toEqual(sorted.slice(3, 8));
    expect(page.body.stats.rows_matched).toBe(3000);
    const capped = await node.call('POST', '/api/v1/query', { tenant: 'topk', body: { query: 'SELECT properties.n AS n FROM entities ORDER BY properties.n' } });
    expect(capped.body).toMatchObject({ truncated: true, bound: 'rows_returned_max' });
    expect(capped.body.rows.map((x: Rec) => x.n)).toEqual([...ns].sort((a, b) => a - b).slice(0, 1000));
  });
});

describe('bounds', () => {
  it('a node with PERCOLATE_QUERY_ROWS_SCANNED_MAX stops scans there and reports the bound', async () => {
    const small = await startNode({ PERCOLATE_QUERY_ROWS_SCANNED_MAX: '50', PERCOLATE_SEARCH_LIMIT_MAX: '20', PERCOLATE_TRAVERSAL_NODES_MAX: '3' });
    try {
      const es = Array.from({ length: 120 }, (_, i) => ({ type: 'thing', key: `t${i}`, properties: { n: i }, edges: [{ rel: 'next', to: { type: 'thing', key: `t${i + 1}` } }] }));
      expect((await small.call('POST', '/api/v1/entities', { body: { entities: es } })).status).toBe(201);
      const scan = await small.call('POST', '/api/v1/query', { body: { query: 'SELECT id FROM entities WHERE properties.n >= 0 LIMIT 10 OFFSET 15' } });
      expect(scan.status).toBe(200);
      expect(scan.body).toMatchObject({ truncated: false });
      const all = await small.call('POST', '/api/v1/query', { body: { query: 'SELECT COUNT(*) AS n FROM entities' } });
      expect(all.body).toMatchObject({ rows: [{ n: 50 }], truncated: true, bound: 'rows_scanned_max' });
      expect(all.body.stats.rows_scanned).toBe(50);
      const many = await small.call('POST', '/api/v1/query', { body: { query: "SELECT key FROM entities WHERE key LIKE 't%'" } });
      expect(many.body).toMatchObject({ truncated: true, bound: 'rows_returned_max' });
      expect(many.body.rows).toHaveLength(20);
      const tooBig = await small.call('POST', '/api/v1/query', { body: { query: 'SELECT id FROM entities LIMIT 21' } });
      expect(tooBig.status).toBe(400);
      expect(tooBig.body.error.code).toBe('invalid_query');
      const walk = await small.call('POST', '/api/v1/query', { body: { query: "TRAVERSE FROM 't0' DEPTH 10 DIRECTION out" } });
      expect(walk.body).toMatchObject({ truncated: true, bound: 'traversal_nodes_max' });
      expect(walk.body.results).toHaveLength(3);
      const limited = await small.call('POST', '/api/v1/query', { body: { query: "TRAVERSE FROM 't0' DEPTH 10 DIRECTION out LIMIT 2" } });
      expect(limited.body).toMatchObject({ truncated: true, bound: 'limit' });
    } finally {
      await small.close();
    }
  });

  it('a query out of time stops and reports time_ms_max', async () => {
    const slow = await startNode({ PERCOLATE_QUERY_TIME_MS_MAX: '1' });
    try {
      const es = Array.from({ length: 600 }, (_, i) => ({ type: 'thing', key: `t${i}`, properties: { text: 'x'.repeat(2000) } }));
      expect((await slow.call('POST', '/api/v1/entities', { body: { entities: es } })).status).toBe(201);
      // a 1 ms budget cannot cover reading 600 records of 2 kB in batches; the scan stops between batches
      const res = await slow.call('POST', '/api/v1/query', { body: { query: "SELECT COUNT(*) AS n FROM entities WHERE properties.text LIKE '%y%'" } });
      expect(res.body).toMatchObject({ truncated: true, bound: 'time_ms_max' });
      expect(res.body.stats.rows_scanned).toBeLessThan(600);
    } finally {
      await slow.close();
    }
  });
});

// Merge is commutative, associative and idempotent: replicas that apply the same ops in any order, any number of
// times, converge (property-based, over random op sets, orders and duplicates).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEntityDelete, applyEntityDelta, canonicalEntityState, emptyEntityState, entityView, mergeEntityDelta, mergeEntityStates, type EntityState } from '../shared/rem/entity-crdt.js';
import { encodeHlc, HybridLogicalClock } from '../shared/rem/hlc.js';
import { encodeVector, type EntityDelta, type Mutation, type Op, type SchemaMutation } from '../shared/rem/ops.js';
import { tenantDigest } from '../shared/store/digest.js';
import { entityId, resourceId } from '../shared/rem/ids.js';
import type { Resource } from '../shared/rem/types.js';
import { openStore } from './support/store.js';
import { tempDir } from './support/tmp.js';

type EntityOp = { t: string; kind: 'put'; d: EntityDelta } | { t: string; kind: 'del' };

const hlcArb = fc.record({ wall: fc.integer({ min: 1, max: 40 }), counter: fc.integer({ min: 0, max: 3 }), node: fc.constantFrom('a', 'b', 'c') });
const deltaArb: fc.Arbitrary<EntityDelta> = fc.record(
  {
    type: fc.constant('person'),
    key: fc.constantFrom('ada', 'Ada', 'ADA'),
    name: fc.constantFrom('Ada', 'Countess'),
    aliases: fc.array(fc.constantFrom('Ada King', 'Lady Lovelace', 'ada king'), { maxLength: 2 }),
    properties: fc.dictionary(fc.constantFrom('age', 'city', 'field'), fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y'))),
    edges: fc.array(fc.record({ rel: fc.constantFrom('knows', 'likes'), to: fc.constantFrom('p1', 'p2'), properties: fc.constant({}), weight: fc.constantFrom(1, 2) }), { maxLength: 2 }),
    edges_remove: fc.array(fc.record({ rel: fc.constantFrom('knows', 'likes'), to: fc.constantFrom('p1', 'p2') }), { maxLength: 1 }),
  },
  { requiredKeys: ['type', 'key'] },
);
// distinct timestamps: one HLC is one op (a node never issues the same timestamp twice)
const opsArb = fc
  .uniqueArray(fc.tuple(hlcArb, fc.oneof({ weight: 4, arbitrary: deltaArb.map((d) => ({ kind: 'put' as const, d })) }, { weight: 1, arbitrary: fc.constant({ kind: 'del' as const }) })), {
    selector: ([h]) => encodeHlc({ wallMs: h.wall, counter: h.counter, node: h.node }),
    minLength: 1,
    maxLength: 12,
  })
  .map((xs) => xs.map(([h, o]): EntityOp => ({ t: encodeHlc({ wallMs: h.wall, counter: h.counter, node: h.node }), ...o })));

function replay(ops: readonly EntityOp[]): EntityState {
  let s = emptyEntityState();
  for (const op of ops) s = op.kind === 'put' ? applyEntityDelta(s, op.d, op.t) : applyEntityDelete(s, op.t);
  return s;
}

describe('entity CRDT (pure)', () => {
  it('converges for any order of the same ops (commutativity)', () => {
    fc.assert(
      fc.property(opsArb, fc.func(fc.integer()), (ops, rank) => {
        const shuffled = [...ops].sort((a, b) => rank(a.t) - rank(b.t) || (a.t < b.t ? -1 : 1));
        expect(canonicalEntityState(replay(shuffled))).toBe(canonicalEntityState(replay(ops)));
      }),
      { numRuns: 300 },
    );
  });

  it('merges in place (a batch owning its copy) exactly as it merges by copy, and says when a delta changed nothing', () => {
    fc.assert(
      fc.property(opsArb, fc.array(fc.nat(), { maxLength: 6 }), (ops, dups) => {
        const withDups = [...ops, ...dups.map((i) => ops[i % ops.length]!)];
        let pure = emptyEntityState();
        let batch = emptyEntityState();
        let owned = false;
        for (const op of withDups) {
          const frozen = canonicalEntityState(pure);
          if (op.kind === 'put') {
            const r = mergeEntityDelta(pure, op.d, op.t, false);
            expect(canonicalEntityState(pure)).toBe(frozen); // the input is left as it was
            expect(r.changed).toBe(canonicalEntityState(r.state) !== frozen);
            if (!r.changed) expect(r.state).toBe(pure);
            pure = r.state;
            const inPlace = mergeEntityDelta(batch, op.d, op.t, owned);
            batch = inPlace.state;
            owned ||= inPlace.changed;
          } else {
            pure = applyEntityDelete(pure, op.t);
            const next = applyEntityDelete(batch, op.t);
            owned ||= next !== batch;
            batch = next;
          }
          expect(canonicalEntityState(batch)).toBe(canonicalEntityState(pure));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is idempotent: applying ops again, or duplicated, changes nothing', () => {
    fc.assert(
      fc.property(opsArb, fc.array(fc.nat(), { maxLength: 6 }), (ops, dups) => {
        const withDups = [...ops, ...dups.map((i) => ops[i % ops.length]!)];
        expect(canonicalEntityState(replay(withDups))).toBe(canonicalEntityState(replay(ops)));
      }),
      { numRuns: 300 },
    );
  });

  it('merges states associatively and commutatively, equal to replaying the union of ops', () => {
    fc.assert(
      // three replicas each saw a subset (possibly overlapping) of one history: one timestamp is one op everywhere
      fc.property(opsArb.chain((pool) => fc.tuple(fc.constant(pool), fc.array(fc.integer({ min: 0, max: 7 }), { minLength: pool.length, maxLength: pool.length }))), ([pool, masks]) => {
        const pick = (bit: number) => pool.filter((_, i) => masks[i]! & bit);
        const [x, y, z] = [pick(1), pick(2), pick(4)];
        const [a, b, c] = [replay(x), replay(y), replay(z)];
        const left = mergeEntityStates(mergeEntityStates(a, b), c);
        const right = mergeEntityStates(a, mergeEntityStates(b, c));
        expect(canonicalEntityState(left)).toBe(canonicalEntityState(right));
        expect(canonicalEntityState(mergeEntityStates(a, b))).toBe(canonicalEntityState(mergeEntityStates(b, a)));
        const union = new Map<string, EntityOp>();
        for (const op of [...x, ...y, ...z]) if (!union.has(op.t)) union.set(op.t, op);
        const viewOf = (s: EntityState) => JSON.stringify(entityView('id', s) ?? null);
        expect(viewOf(left)).toBe(viewOf(replay([...union.values()])));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps concurrent updates of different properties from two nodes', () => {
    const base = applyEntityDelta(emptyEntityState(), { type: 'p', key: 'k', properties: { a: 0 } }, encodeHlc({ wallMs: 1, counter: 0, node: 'a' }));
    const onA = applyEntityDelta(base, { type: 'p', key: 'k', properties: { color: 'red' } }, encodeHlc({ wallMs: 5, counter: 0, node: 'a' }));
    const onB = applyEntityDelta(base, { type: 'p', key: 'k', properties: { size: 9 } }, encodeHlc({ wallMs: 5, counter: 0, node: 'b' }));
    expect(entityView('id', mergeEntityStates(onA, onB))!.properties).toEqual({ a: 0, color: 'red', size: 9 });
  });

  it('lets a delete win over older writes and lose to newer ones', () => {
    const t = (w: number) => encodeHlc({ wallMs: w, counter: 0, node: 'a' });
    const put = (w: number, p: Record<string, unknown>) => ({ t: t(w), kind: 'put' as const, d: { type: 'p', key: 'k', properties: p } });
    const del = (w: number) => ({ t: t(w), kind: 'del' as const });
    expect(entityView('id', replay([put(1, { a: 1 }), del(2)]))).toBeUndefined();
    expect(entityView('id', replay([del(2), put(1, { a: 1 })]))).toBeUndefined();
    expect(entityView('id', replay([put(1, { a: 1 }), put(3, { b: 2 }), del(2)]))!.properties).toEqual({ b: 2 });
  });
});

describe('HLC', () => {
  it('is monotonic even when the wall clock steps back, and moves past observed timestamps', () => {
    let wall = 1000;
    const clock = new HybridLogicalClock('n1', () => wall);
    const a = clock.now();
    wall = 500; // NTP stepped the clock back
    const b = clock.now();
    expect(b > a).toBe(true);
    clock.observe(encodeHlc({ wallMs: 5000, counter: 7, node: 'n2' }));
    const c = clock.now();
    expect(c > encodeHlc({ wallMs: 5000, counter: 7, node: 'n2' })).toBe(true);
  });

  it('breaks ties between nodes by node id', () => {
    const a = new HybridLogicalClock('a', () => 42).now();
    const b = new HybridLogicalClock('b', () => 42).now();
    expect(a < b).toBe(true);
  });
});

describe('store merge (ops applied to real tenant stores)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  const vec = (seed: number) => {
    const v = new Float32Array(384);
    v[seed % 384] = 1;
    return encodeVector(v);
  };
  const resOp = (w: number, node: string, uri: string, content: string | null): Op => {
    const hlc = encodeHlc({ wallMs: w, counter: 0, node });
    const id = resourceId(uri, 0);
    const m: Mutation =
      content === null
        ? { type: 'delete', kind: 'resources', id }
        : {
            type: 'put',
            kind: 'resources',
            id,
            record: { id, uri, name: '', content, chunk_ordinal: 0, metadata: {}, created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' } as Resource,
            vector: vec(w),
          };
    return { v: 1, op_id: hlc, tenant: 't', node, hlc, mutations: [m] };
  };
  const entOp = (w: number, node: string, key: string, delta: Partial<EntityDelta> | null): Op => {
    const hlc = encodeHlc({ wallMs: w, counter: 0, node });
    const id = entityId('person', key);
    const m: Mutation = delta === null ? { type: 'delete', kind: 'entities', id } : { type: 'put', kind: 'entities', id, delta: { type: 'person', key, ...delta } };
    return { v: 1, op_id: hlc, tenant: 't', node, hlc, mutations: [m] };
  };

  const schemaOp = (w: number, node: string, field: 'x' | 'y' | null): Op => {
    const hlc = encodeHlc({ wallMs: w, counter: 0, node });
    const time = new Date(w).toISOString();
    const m: SchemaMutation =
      field === null
        ? { type: 'delete', kind: 'schemas', id: 'person' }
        : { type: 'put', kind: 'schemas', id: 'person', definition: { type: 'Person', schema: { type: 'object' }, key_field: null, indexed_fields: [field], embedding_fields: [], created_at: time, updated_at: time } };
    return { v: 1, op_id: hlc, tenant: 't', node, hlc, mutations: [m] };
  };

  it('reaches the same digest, records, schemas and indexes from random orders and duplicates of the same ops', async () => {
    const opArb = fc.oneof(
      fc.record({ w: fc.integer({ min: 1, max: 30 }), node: fc.constantFrom('a', 'b'), field: fc.constantFrom('x' as const, 'y' as const, null) }).map((r) => schemaOp(r.w, r.node, r.field)),
      fc.record({ w: fc.integer({ min: 1, max: 30 }), node: fc.constantFrom('a', 'b'), uri: fc.constantFrom('u1', 'u2', 'u3'), content: fc.oneof(fc.constant(null), fc.constantFrom('alpha', 'beta', 'gamma')) }).map((r) => resOp(r.w, r.node, r.uri, r.content)),
      fc.record({ w: fc.integer({ min: 1, max: 30 }), node: fc.constantFrom('a', 'b'), key: fc.constantFrom('ada', 'bob'), p: fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 2 })))) }).map((r) => entOp(r.w, r.node, r.key, r.p === null ? null : { properties: r.p })),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(opArb, { selector: (o) => o.hlc, minLength: 1, maxLength: 10 }), fc.func(fc.integer()), fc.array(fc.nat(), { maxLength: 4 }), async (ops, rank, dups) => {
        run++;
        const a = await openStore(tmp.dir, `a${run}`);
        const b = await openStore(tmp.dir, `b${run}`);
        try {
          for (const op of ops) await a.applyReplicated([op]);
          const shuffled = [...ops, ...dups.map((i) => ops[i % ops.length]!)].sort((x, y) => rank(x.hlc) - rank(y.hlc));
          // the second replica takes them in one batch, shuffled, with duplicates
          await b.applyReplicated(shuffled);
          const [da, db] = [await tenantDigest(a), await tenantDigest(b)];
          expect(db.digest).toBe(da.digest);
          expect(db.counts).toEqual(da.counts);
          expect(b.schemas.list()).toEqual(a.schemas.list());
          expect(await b.iterator('idx').all()).toEqual(await a.iterator('idx').all());
          for (const kind of ['resources', 'entities'] as const) {
            const ra = await a.recordTexts(kind).all();
            const rb = await b.recordTexts(kind).all();
            expect(rb).toEqual(ra);
            expect(b.vectorIndex(kind).size).toBe(a.vectorIndex(kind).size);
          }
        } finally {
          await a.close();
          await b.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});

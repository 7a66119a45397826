// What the single write path needs to know about each kind, as data it is given rather than modules it imports:
// which secondary-index entries a record has (so a change moves exactly those), and the text the keyword index
// sees. The kinds' operations (resources.ts, entities.ts, moments.ts) sit above the store; these specs sit below
// the write path, so neither imports the other.
import type { SpaceOp } from '../rem/codec.js';
import { recordText } from '../rem/record-text.js';
import { normalizeKey } from '../rem/text.js';
import type { Entity, Moment, RemKind, RemRecord, Resource } from '../rem/types.js';
import { entityKeyAnyType, entityKeyKey, entityNameKey, momentTimeKey, resourceUriKey, reverseEdgeKey } from './keys.js';

export interface KindSpec<R extends RemRecord = RemRecord> {
  kind: RemKind;
  /** The key-space writes that move the record's index entries from `old` to `next` (either may be absent). */
  indexOps(old: R | undefined, next: R | undefined): SpaceOp[];
  /** The text the keyword index holds for the record. */
  keywordText(r: R): string;
}

/** Resources are indexed by (uri, chunk_ordinal), which their id is derived from: an update moves nothing. */
export const resourceSpec: KindSpec<Resource> = {
  kind: 'resources',
  indexOps(old, next) {
    if (old && next) return [];
    if (next) return [{ type: 'put', space: 'idx', key: resourceUriKey(next.uri, next.chunk_ordinal), value: next.id }];
    if (old) return [{ type: 'del', space: 'idx', key: resourceUriKey(old.uri, old.chunk_ordinal) }];
    return [];
  },
  keywordText: (r) => recordText('resources', r),
};

/** Moments are indexed by start time (which may move with an explicit id). */
export const momentSpec: KindSpec<Moment> = {
  kind: 'moments',
  indexOps(old, next) {
    const ops: SpaceOp[] = [];
    const oldKey = old ? momentTimeKey(Date.parse(old.start_time), old.id) : undefined;
    const newKey = next ? momentTimeKey(Date.parse(next.start_time), next.id) : undefined;
    if (oldKey && oldKey !== newKey) ops.push({ type: 'del', space: 'idx', key: oldKey });
    if (newKey && newKey !== oldKey) ops.push({ type: 'put', space: 'idx', key: newKey, value: next!.id });
    return ops;
  },
  keywordText: (r) => recordText('moments', r),
};

function nameKeys(e: Entity): Set<string> {
  const out = new Set<string>();
  for (const s of [e.key, e.name, ...e.aliases]) {
    const n = normalizeKey(s);
    if (n) out.add(entityNameKey(n, e.id));
  }
  return out;
}

/** Entities: natural key (typed and any-type), names and aliases for fuzzy lookup, and reverse edges. */
export const entitySpec: KindSpec<Entity> = {
  kind: 'entities',
  indexOps(old, next) {
    const ops: SpaceOp[] = [];
    if (!old && !next) return ops;
    const oldNames = old ? nameKeys(old) : new Set<string>();
    const newNames = next ? nameKeys(next) : new Set<string>();
    for (const k of oldNames) if (!newNames.has(k)) ops.push({ type: 'del', space: 'idx', key: k });
    for (const k of newNames) if (!oldNames.has(k)) ops.push({ type: 'put', space: 'idx', key: k, value: next!.id });
    const id = (next ?? old)!.id;
    if (!old && next) {
      ops.push({ type: 'put', space: 'idx', key: entityKeyKey(normalizeKey(next.type), normalizeKey(next.key)), value: id });
      ops.push({ type: 'put', space: 'idx', key: entityKeyAnyType(normalizeKey(next.key), id), value: id });
    }
    if (old && !next) {
      ops.push({ type: 'del', space: 'idx', key: entityKeyKey(normalizeKey(old.type), normalizeKey(old.key)) });
      ops.push({ type: 'del', space: 'idx', key: entityKeyAnyType(normalizeKey(old.key), id) });
    }
    const oldEdges = new Map((old?.edges ?? []).map((e) => [reverseEdgeKey(e.to, e.rel, id), e.weight]));
    const newEdges = new Map((next?.edges ?? []).map((e) => [reverseEdgeKey(e.to, e.rel, id), e.weight]));
    for (const k of oldEdges.keys()) if (!newEdges.has(k)) ops.push({ type: 'del', space: 'redge', key: k });
    for (const [k, w] of newEdges) if (oldEdges.get(k) !== w) ops.push({ type: 'put', space: 'redge', key: k, value: w });
    return ops;
  },
  keywordText: (r) => recordText('entities', r),
};

export const KIND_SPECS: { readonly [K in RemKind]: KindSpec } = {
  resources: resourceSpec as KindSpec,
  entities: entitySpec as KindSpec,
  moments: momentSpec as KindSpec,
};

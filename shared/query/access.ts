// Access paths: how a SELECT reaches its candidate records. From the WHERE clause's top-level conjuncts the planner
// derives every index that can answer one of them and picks the cheapest:
//
//   cost 0    index_eq     id            `id = ..` / `id IN (..)`: direct reads
//   cost 1    index_eq     ekey          entity `type = .. AND key = ..` (or `key = ..` alone, any type)
//   cost 2    index_eq     <type>.<f>    equality / IN on a schema-indexed property (with `type = ..`)
//             index_eq     ruri, mtime   resource `uri = ..`, moment `start_time = ..`
//   cost 3-4  index_range  <type>.<f>, ruri, mtime    two-sided (3) or one-sided (4) ranges, LIKE 'prefix%' (3.5)
//   cost 5    index_prefix ekey          entity `type = ..`: every entity of the type
//   cost 6    index_scan   ruri, mtime   no usable predicate, but ORDER BY uri / start_time: read in order, stop early
//   cost 9    full_scan
//
// Index entries map to ids; every candidate record is still tested against the whole WHERE clause, so an access path
// only has to return a superset of the matches (bounds are inclusive and long strings are truncated in keys).
import type { RemKind } from '../rem/types.js';
import {
  MOMENT_TIME_PREFIX,
  RESOURCE_URI_PREFIX,
  encodeIndexValue,
  entityKeyKey,
  entityKeyPrefix,
  momentTimeBound,
  prefixEnd,
  schemaIndexFieldPrefix,
} from '../store/keys.js';
import type { Scalar } from './ast.js';
import type { BoundExpr } from './bind.js';
import { compareText, compareValues, likePrefix } from './values.js';

export interface KeyRange {
  gte: string;
  lt: string;
}

export interface AccessPath {
  /** What EXPLAIN shows: `{"access":"index_range","index":"person.age","range":{">=":30}}`. */
  describe: { access: 'full_scan' | 'index_eq' | 'index_range' | 'index_prefix' | 'index_scan'; index?: string; [k: string]: unknown };
  /** Records read directly by id. */
  ids?: string[];
  /** Ranges of the `idx` sublevel whose values are record ids, read in order. */
  ranges?: KeyRange[];
  reverse?: boolean;
  /** Rows come out in the ORDER BY order (the executor may stop at the limit). */
  ordered: boolean;
  /** An index may list one record more than once (array-valued properties, IN lists). */
  dedupe: boolean;
  cost: number;
}

export interface IndexCatalog {
  /** True when entities of `type` (normalised) have a secondary index on property path `field`. */
  hasIndex(type: string, field: string): boolean;
}

export interface OrderHint {
  /** The single ORDER BY field path (dotted), when there is exactly one. */
  field: string;
  desc: boolean;
}

type Cmp = Extract<BoundExpr, { type: 'cmp' }>;

const FULL_SCAN: AccessPath = { describe: { access: 'full_scan' }, ordered: false, dedupe: false, cost: 9 };

export function conjuncts(e: BoundExpr | undefined): BoundExpr[] {
  if (!e) return [];
  return e.type === 'and' ? e.items.flatMap(conjuncts) : [e];
}

/** Values a conjunct pins field `path` to (`= v`, `IN (..)`), or undefined. NULL pins nothing an index holds. */
function pinned(c: BoundExpr, path: string): Scalar[] | undefined {
  if (c.type === 'cmp' && c.op === '=' && c.field.text === path && c.value !== null) return [c.value];
  if (c.type === 'in' && !c.negated && c.field.text === path) {
    const vals = c.values.filter((v) => v !== null);
    return vals.length === c.values.length ? [...new Map(vals.map((v) => [JSON.stringify(v), v])).values()] : undefined;
  }
  return undefined;
}

interface Bounds1 {
  lower?: { value: Scalar; op: '>' | '>=' };
  upper?: { value: Scalar; op: '<' | '<=' };
}

/** The tightest range the conjuncts put on `path` (only values of one JSON type are combined). */
function rangeOf(cs: readonly BoundExpr[], path: string): Bounds1 | undefined {
  const out: Bounds1 = {};
  for (const c of cs) {
    if (c.type !== 'cmp' || c.field.text !== path || c.value === null) continue;
    const v = c.value;
    if (c.op === '>' || c.op === '>=') {
      if (!out.lower || (typeof out.lower.value === typeof v && compareValues(v, out.lower.value) > 0)) out.lower = { value: v, op: c.op };
    } else if (c.op === '<' || c.op === '<=') {
      if (!out.upper || (typeof out.upper.value === typeof v && compareValues(v, out.upper.value) < 0)) out.upper = { value: v, op: c.op };
    }
  }
  if (out.lower && out.upper && typeof out.lower.value !== typeof out.upper.value) delete out.upper;
  return out.lower || out.upper ? out : undefined;
}

function describeRange(r: Bounds1): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  if (r.lower) out[r.lower.op] = r.lower.value;
  if (r.upper) out[r.upper.op] = r.upper.value;
  return out;
}

/** LIKE conjuncts with a literal prefix on `path` ('abc%'). */
function likePrefixOf(cs: readonly BoundExpr[], path: string): string | undefined {
  for (const c of cs) {
    if (c.type === 'like' && !c.negated && c.field.text === path) {
      const p = likePrefix(c.pattern);
      if (p.length > 0) return p;
    }
  }
  return undefined;
}

const typeTagEnd = (tag: string) => String.fromCharCode(tag.charCodeAt(0) + 1);

/** Key ranges of a schema index (`fp` = field prefix) for a value range; strict bounds skip equal keys unless truncated. */
function encodedRange(fp: string, r: Bounds1): KeyRange | undefined {
  const lo = r.lower ? encodeIndexValue(r.lower.value) : undefined;
  const hi = r.upper ? encodeIndexValue(r.upper.value) : undefined;
  const tag = (lo ?? hi)?.[0];
  if (!tag) return undefined;
  const exact = (v: Scalar, enc: string) => typeof v !== 'string' || enc.length - 1 === v.length;
  const gte = lo ? fp + lo + (r.lower!.op === '>' && exact(r.lower!.value, lo) ? '\u0001' : '') : fp + tag;
  const lt = hi ? fp + hi + (r.upper!.op === '<' && exact(r.upper!.value, hi) ? '' : '\u0001') : fp + typeTagEnd(tag);
  return { gte, lt };
}

function eqRange(prefix: string): KeyRange {
  return { gte: prefix, lt: prefixEnd(prefix) };
}

function entityPaths(cs: readonly BoundExpr[], catalog: IndexCatalog): AccessPath[] {
  const out: AccessPath[] = [];
  const types = cs.map((c) => pinned(c, 'type')).find((v) => v !== undefined)?.filter((v): v is string => typeof v === 'string');
  const keys = cs.map((c) => pinned(c, 'key')).find((v) => v !== undefined)?.filter((v): v is string => typeof v === 'string');
  if (types && keys) {
    const ranges = types.flatMap((t) => keys.map((k) => eqRange(entityKeyKey(t, k))));
    out.push({ describe: { access: 'index_eq', index: 'ekey', types, keys }, ranges, ordered: false, dedupe: false, cost: 1 });
  } else if (keys) {
    out.push({ describe: { access: 'index_eq', index: 'ekey', keys }, ranges: keys.map((k) => eqRange(entityKeyPrefix(k))), ordered: false, dedupe: false, cost: 1.5 });
  }
  if (!types || types.length === 0) return out;
  const keyPrefix = likePrefixOf(cs, 'key');
  if (keyPrefix !== undefined) {
    const ranges = types.map((t) => eqRange(entityKeyKey(t, keyPrefix)));
    out.push({ describe: { access: 'index_prefix', index: 'ekey', types, key_prefix: keyPrefix }, ranges, ordered: false, dedupe: false, cost: 3.5 });
  }
  out.push({ describe: { access: 'index_prefix', index: 'ekey', types }, ranges: types.map((t) => eqRange(entityKeyKey(t, ''))), ordered: false, dedupe: false, cost: 5 });
  // schema indexes: properties.<field> with every pinned type indexing <field>
  const fields = new Set<string>();
  for (const c of cs) if ((c.type === 'cmp' || c.type === 'in' || c.type === 'like') && c.field.path[0] === 'properties' && c.field.path.length > 1) fields.add(c.field.path.slice(1).join('.'));
  for (const f of fields) {
    if (!types.every((t) => catalog.hasIndex(t, f))) continue;
    const path = `properties.${f}`;
    const index = types.length === 1 ? `${types[0]}.${f}` : types.map((t) => `${t}.${f}`).join(',');
    const fps = types.map((t) => schemaIndexFieldPrefix(t, f));
    const eq = cs.map((c) => pinned(c, path)).find((v) => v !== undefined);
    if (eq) {
      const encoded = eq.map(encodeIndexValue).filter((x): x is string => x !== undefined);
      const ranges = fps.flatMap((fp) => encoded.map((enc) => eqRange(`${fp}${enc}\u0000`)));
      out.push({ describe: { access: 'index_eq', index, values: eq }, ranges, ordered: false, dedupe: true, cost: 2 });
    }
    const range = rangeOf(cs, path);
    if (range) {
      const ranges = fps.map((fp) => encodedRange(fp, range)).filter((r): r is KeyRange => r !== undefined);
      if (ranges.length === fps.length) {
        out.push({ describe: { access: 'index_range', index, range: describeRange(range) }, ranges, ordered: false, dedupe: true, cost: range.lower && range.upper ? 3 : 4 });
      }
    }
    const prefix = likePrefixOf(cs, path);
    if (prefix !== undefined) {
      const ranges = fps.map((fp) => eqRange(fp + encodeIndexValue(prefix)!));
      out.push({ describe: { access: 'index_range', index, like_prefix: prefix }, ranges, ordered: false, dedupe: true, cost: 3.5 });
    }
  }
  return out;
}

function resourcePaths(cs: readonly BoundExpr[]): AccessPath[] {
  const out: AccessPath[] = [];
  const P = RESOURCE_URI_PREFIX;
  const eq = cs.map((c) => pinned(c, 'uri')).find((v) => v !== undefined)?.filter((v): v is string => typeof v === 'string');
  if (eq) {
    const ranges = [...eq].sort(compareText).map((u) => eqRange(`${P}${u}\u0000`));
    out.push({ describe: { access: 'index_eq', index: 'ruri', values: eq }, ranges, ordered: false, dedupe: false, cost: 2 });
  }
  const range = rangeOf(cs, 'uri');
  if (range && typeof (range.lower ?? range.upper)!.value === 'string') {
    const lo = range.lower ? `${P}${range.lower.value as string}` : P;
    const hi = range.upper ? `${P}${range.upper.value as string}${range.upper.op === '<=' ? '\u0001' : ''}` : prefixEnd(P);
    out.push({ describe: { access: 'index_range', index: 'ruri', range: describeRange(range) }, ranges: [{ gte: lo, lt: hi }], ordered: false, dedupe: false, cost: range.lower && range.upper ? 3 : 4 });
  }
  const prefix = likePrefixOf(cs, 'uri');
  if (prefix !== undefined) {
    out.push({ describe: { access: 'index_range', index: 'ruri', like_prefix: prefix }, ranges: [eqRange(P + prefix)], ordered: false, dedupe: false, cost: 3.5 });
  }
  return out;
}

// momentTimeBound pads epoch ms shifted to 0001-01-01 to 15 digits; clamp query bounds into that domain
const MS_MIN = -62_135_596_800_000;
const MS_MAX = 999_999_999_999_999 - 62_135_596_800_000;
const msBound = (ms: number) => momentTimeBound(Math.min(MS_MAX, Math.max(MS_MIN, ms)));

function momentPaths(cs: readonly BoundExpr[]): AccessPath[] {
  const out: AccessPath[] = [];
  const iso = (ms: Scalar) => new Date(ms as number).toISOString();
  const eq = cs.map((c) => pinned(c, 'start_time')).find((v) => v !== undefined)?.filter((v): v is number => typeof v === 'number');
  if (eq) {
    const ranges = [...eq].sort((a, b) => a - b).map((ms) => ({ gte: msBound(ms), lt: msBound(ms + 1) }));
    out.push({ describe: { access: 'index_eq', index: 'mtime', values: eq.map(iso) }, ranges, ordered: false, dedupe: false, cost: 2 });
  }
  const range = rangeOf(cs, 'start_time');
  if (range && typeof (range.lower ?? range.upper)!.value === 'number') {
    const lo = range.lower ? msBound((range.lower.value as number) + (range.lower.op === '>' ? 1 : 0)) : MOMENT_TIME_PREFIX;
    const hi = range.upper ? msBound((range.upper.value as number) + (range.upper.op === '<=' ? 1 : 0)) : prefixEnd(MOMENT_TIME_PREFIX);
    const shown = describeRange(range);
    for (const k of Object.keys(shown)) shown[k] = iso(shown[k]!);
    out.push({ describe: { access: 'index_range', index: 'mtime', range: shown }, ranges: [{ gte: lo, lt: hi }], ordered: false, dedupe: false, cost: range.lower && range.upper ? 3 : 4 });
  }
  return out;
}

/** The index whose key order is the order of a field, per kind. */
const ORDER_INDEX: Partial<Record<RemKind, { field: string; index: string; prefix: string }>> = {
  resources: { field: 'uri', index: 'ruri', prefix: RESOURCE_URI_PREFIX },
  moments: { field: 'start_time', index: 'mtime', prefix: MOMENT_TIME_PREFIX },
};

/** Chooses the cheapest access path for a SELECT over `kind` with filter `where` and an optional single ORDER BY. */
export function chooseAccess(kind: RemKind, where: BoundExpr | undefined, catalog: IndexCatalog, order?: OrderHint): AccessPath {
  const cs = conjuncts(where);
  const paths: AccessPath[] = [];
  const ids = cs.map((c) => pinned(c, 'id')).find((v) => v !== undefined);
  if (ids) {
    const list = [...new Set(ids.filter((v): v is string => typeof v === 'string'))];
    paths.push({ describe: { access: 'index_eq', index: 'id', ids: list }, ids: list, ordered: false, dedupe: false, cost: 0 });
  }
  if (kind === 'entities') paths.push(...entityPaths(cs, catalog));
  if (kind === 'resources') paths.push(...resourcePaths(cs));
  if (kind === 'moments') paths.push(...momentPaths(cs));
  let best = paths.reduce<AccessPath>((a, b) => (b.cost < a.cost ? b : a), FULL_SCAN);
  // ranges of an order index come out in its order: use that for ORDER BY (and read backwards for DESC)
  const oi = ORDER_INDEX[kind];
  if (oi && order && order.field === oi.field) {
    if (best === FULL_SCAN) {
      best = { describe: { access: 'index_scan', index: oi.index }, ranges: [eqRange(oi.prefix)], ordered: true, dedupe: false, cost: 6 };
    }
    if (best.describe.index === oi.index && best.ranges) {
      best = { ...best, ordered: true, reverse: order.desc, ranges: order.desc ? [...best.ranges].reverse() : best.ranges };
      best.describe = { ...best.describe, order: order.desc ? 'desc' : 'asc' };
    }
  }
  return best;
}

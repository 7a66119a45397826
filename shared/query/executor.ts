// Executor: runs a plan against one tenant store within its bounds, counting the work it does (index entries and
// records read, rows scanned and matched). SELECT streams candidates in batches from its access path, tests each one
// against the filter, and stops as soon as the answer is known (no ORDER BY, or rows arriving in ORDER BY order, and
// offset + limit rows matched) or a bound is reached.
import { ByteBudget, RESPONSE_BYTES_BOUND, jsonBytes, textBytes } from '../rem/byte-budget.js';
import { ID_PATTERN } from '../rem/ids.js';
import { TimeSlice } from '../rem/time-slice.js';
import type { Entity, RemRecord } from '../rem/types.js';
import { searchBounded } from '../search/search.js';
import { fuzzyEntities, lookupEntities, lookupEntitiesBounded, neighbors, type GraphEdge } from '../store/entities.js';
import type { TenantStore } from '../store/tenant-store.js';
import { Grouper } from './aggregate.js';
import type { AccessPath } from './access.js';
import { Budget, ROW_UNITS, type BoundName, type Clock, type QueryStats } from './bounds.js';
import { getPath } from './fields.js';
import type { FuzzyPlan, LookupPlan, Plan, SearchPlan, SelectPlan, TraversePlan } from './planner.js';
import { JsonKey, compareValues, sortKey } from './values.js';

const BATCH = 256;
const SEARCH_POOL_MAX = 4096;
/** Bytes reserved in the answer for what surrounds the rows (stats, truncated, bound, took_ms, key names). */
const ENVELOPE_BYTES = 512;
/** Clock units of one sort comparison (the clock is read about every 256 comparisons). */
const COMPARE_UNITS = 16;

export interface ExecResult {
  /** SELECT answers `rows`; LOOKUP, FUZZY, SEARCH and TRAVERSE answer `results`. */
  rows?: unknown[];
  results?: unknown[];
  /** TRAVERSE: the edges between the nodes. */
  edges?: GraphEdge[];
  stats: QueryStats;
  truncated: boolean;
  bound?: BoundName;
}

function finish(budget: Budget, out: Omit<ExecResult, 'stats' | 'truncated'>): ExecResult {
  const r: ExecResult = { ...out, stats: budget.stats, truncated: budget.hit !== undefined };
  if (budget.hit) r.bound = budget.hit;
  return r;
}

/**
 * Runs a plan. Besides its counters, a query has a byte budget for its answer (`responseBytesMax`, the plan and the
 * envelope included): rows and results stop being added once the next would not fit (`bound: response_bytes_max`).
 */
export async function execute(store: TenantStore, plan: Plan, budget: Budget): Promise<ExecResult> {
  const bytes = new ByteBudget(budget.bounds.responseBytesMax);
  bytes.take(jsonBytes(plan.describe) + ENVELOPE_BYTES);
  switch (plan.op) {
    case 'select':
      return executeSelect(store, plan, budget, bytes);
    case 'lookup':
      return executeLookup(store, plan, budget, bytes);
    case 'fuzzy':
      return executeFuzzy(store, plan, budget, bytes);
    case 'search':
      return executeSearch(store, plan, budget, bytes);
    case 'traverse':
      return executeTraverse(store, plan, budget, bytes);
  }
}

/** Takes one item's bytes from the answer's budget; false (and the bound recorded) when it does not fit. */
function fits(budget: Budget, bytes: ByteBudget, n: number): boolean {
  if (bytes.take(n + 1)) return true;
  budget.stop(RESPONSE_BYTES_BOUND);
  return false;
}

const OUT_OF_TIME = Symbol('out of time');

/** Time a query that already ran out of time may still spend sorting what it scanned (so that it answers it). */
const LATE_SORT_MS = 10;

/** Clock units for making the sort keys of one row (and per 16 characters of JSON text in them). */
function keyUnits(keys: readonly unknown[]): number {
  let n = 16;
  for (const k of keys) if (k instanceof JsonKey) n += k.json.length >> 4;
  return n;
}

/**
 * Sorts `items` by sort keys (sortKey: arrays and objects by their JSON text, computed once), ties by `idOf`. Making
 * the keys and comparing them count on the query's clock, and the sort gives up when time is up (false: `items` are
 * in no order); a query already out of time gets LATE_SORT_MS more for it.
 */
function sortChecked<T>(items: T[], keysOf: (x: T) => unknown[], order: readonly { desc: boolean }[], budget: Budget, idOf?: (x: T) => string): boolean {
  if (order.length === 0 || items.length < 2) return true;
  const clock: Clock = budget.outOfTime ? budget.grace(LATE_SORT_MS) : budget;
  const keyed: { item: T; keys: unknown[]; id: string }[] = [];
  for (const item of items) {
    const keys = keysOf(item).map(sortKey);
    if (!clock.tick(keyUnits(keys))) return false;
    keyed.push({ item, keys, id: idOf?.(item) ?? '' });
  }
  try {
    keyed.sort((a, b) => {
      if (!clock.tick(COMPARE_UNITS)) throw OUT_OF_TIME;
      for (let i = 0; i < order.length; i++) {
        const c = compareValues(a.keys[i], b.keys[i]);
        if (c !== 0) return order[i]!.desc ? -c : c;
      }
      const c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      return order[0]?.desc ? -c : c;
    });
  } catch (err) {
    if (err === OUT_OF_TIME) return false;
    throw err;
  }
  keyed.forEach((k, i) => (items[i] = k.item));
  return true;
}

/**
 * Candidate records of an access path as their stored JSON text, in batches, counting reads. Batches start at `first`
 * records and double, so a query that stops early (ORDER BY on an index, LIMIT) reads little more than it returns.
 * Records stay text until the query needs them parsed, so one that is only measured and dropped is never parsed.
 */
async function* candidates(store: TenantStore, plan: SelectPlan, access: AccessPath, budget: Budget, first: number): AsyncGenerator<string[]> {
  const stats = budget.stats;
  let size = Math.max(1, Math.min(BATCH, first));
  const next = () => {
    const n = size;
    size = Math.min(BATCH, size * 2);
    return n;
  };
  if (access.ids) {
    for (let i = 0; i < access.ids.length; i += BATCH) {
      const records = await store.getManyJson(plan.kind, access.ids.slice(i, i + BATCH));
      stats.records_read += records.length;
      yield records.filter((r): r is string => r !== undefined);
    }
    return;
  }
  if (!access.ranges) {
    const it = store.recordTexts(plan.kind);
    try {
      for (;;) {
        const records = await it.nextv(next());
        if (records.length === 0) return;
        stats.records_read += records.length;
        yield records;
      }
    } finally {
      await it.close();
    }
  }
  const seen = access.dedupe ? new Set<string>() : undefined;
  for (const range of access.ranges ?? []) {
    const it = store.values<string>('idx', { gte: range.gte, lt: range.lt, reverse: access.reverse === true });
    try {
      for (;;) {
        // read index entries no further than the scan bound allows (plus one, to know that it was reached)
        const ids = await it.nextv(Math.min(next(), budget.scanRoom + 1));
        if (ids.length === 0) break;
        stats.index_entries_read += ids.length;
        const fresh = seen ? ids.filter((id) => !seen.has(id) && (seen.add(id), true)) : ids;
        const records = await store.getManyJson(plan.kind, fresh);
        stats.records_read += fresh.length;
        yield records.filter((r): r is string => r !== undefined);
      }
    } finally {
      await it.close();
    }
  }
}

async function executeSelect(store: TenantStore, plan: SelectPlan, budget: Budget, bytes: ByteBudget): Promise<ExecResult> {
  const stats = budget.stats;
  const grouper = plan.grouping ? new Grouper(plan.grouping.paths, plan.grouping.specs) : undefined;
  // rows can stop early unless everything must be seen first (sorting in memory, grouping)
  const streaming = !grouper && (plan.order.length === 0 || plan.access.ordered);
  const wanted = plan.offset + plan.limit + (plan.implicitLimit ? 1 : 0);
  const pageEnd = plan.offset + plan.limit;
  // sorting in memory keeps the sort keys and ids of the best `wanted` rows (sorted and cut whenever twice as many
  // have gathered), and reads the page's records again at the end: rows never held are never too big to hold
  const sortInMemory = !grouper && !plan.access.ordered && plan.order.length > 0;
  const sortedKeys = (e: { keys: unknown[] }) => e.keys;
  const sortedId = (e: { id: string }) => e.id;
  let sorted: { id: string; keys: unknown[] }[] = [];
  const cols = plan.columns;
  const rows: unknown[] = [];
  /** Adds a record to the answer if it fits (measured from its JSON text before it is parsed). */
  const addRow = (json: string, parsed: RemRecord | undefined): boolean => {
    if (cols === '*') {
      if (!fits(budget, bytes, textBytes(json))) return false;
      rows.push(parsed ?? JSON.parse(json));
      return true;
    }
    const r = parsed ?? (JSON.parse(json) as RemRecord);
    // null prototype: a column named `__proto__` is a column
    const row: Record<string, unknown> = Object.create(null);
    for (const c of cols) row[c.name] = getPath(r, c.path) ?? null;
    if (!fits(budget, bytes, jsonBytes(row))) return false;
    rows.push(row);
    return true;
  };
  /** The record if it passes the filter, null if not, undefined when time ran out while testing it. */
  const test = (json: string): RemRecord | null | undefined => {
    const r = JSON.parse(json) as RemRecord;
    // one row's filter cannot pause midway (the scan pauses between rows): it runs as a step, bounded by stepMsMax
    const pass = budget.step(() => plan.filter!(r, budget));
    if (budget.outOfTime) return undefined;
    return pass ? r : null;
  };
  let matched = 0;
  let done = streaming && wanted === 0;
  // rows from the record cache arrive without a real wait: give the event loop a turn between time slices
  const slice = new TimeSlice();
  for await (const batch of done ? [] : candidates(store, plan, plan.access, budget, streaming ? wanted + 1 : BATCH)) {
    for (const json of batch) {
      if (slice.due()) await slice.pause();
      if (stats.rows_scanned >= budget.bounds.rowsScannedMax) {
        budget.stop('rows_scanned_max');
        done = true;
        break;
      }
      if (!budget.tick(ROW_UNITS)) {
        done = true;
        break;
      }
      stats.rows_scanned++;
      let r: RemRecord | undefined;
      if (plan.filter) {
        const t = test(json);
        if (t === undefined) {
          done = true;
          break;
        }
        if (t === null) continue;
        r = t;
      }
      stats.rows_matched++;
      if (grouper) grouper.add(r ?? JSON.parse(json));
      else if (sortInMemory) {
        const rec = r ?? (JSON.parse(json) as RemRecord);
        const keys = plan.order.map((o) => sortKey(getPath(rec, o.path)));
        if (!budget.tick(keyUnits(keys))) {
          done = true;
          break;
        }
        sorted.push({ id: rec.id, keys });
        if (sorted.length >= 2 * wanted + 1024) {
          if (!sortChecked(sorted, sortedKeys, plan.order, budget, sortedId)) {
            done = true;
            break;
          }
          sorted = sorted.slice(0, wanted);
        }
      } else {
        matched++;
        if (matched > plan.offset && matched <= pageEnd && !addRow(json, r)) {
          done = true;
          break;
        }
        if (matched >= wanted) {
          done = true;
          break;
        }
      }
    }
    if (done || !budget.inTime()) break;
  }

  if (grouper) {
    const g = plan.grouping!;
    const groups = grouper.rows(g.names);
    if (!sortChecked(groups, (row) => plan.order.map((o) => row[o.path[0]!]), plan.order, budget)) return finish(budget, { rows: [] });
    if (g.hidden.length > 0) for (const row of groups) for (const h of g.hidden) delete row[h];
    if (plan.implicitLimit && groups.length > pageEnd) budget.stop('rows_returned_max');
    for (const row of groups.slice(plan.offset, pageEnd)) {
      if (!fits(budget, bytes, jsonBytes(row))) break;
      rows.push(row);
    }
    return finish(budget, { rows });
  }
  if (sortInMemory) {
    // a sort cut short by the clock has no order: the answer is empty (and says time_ms_max)
    if (!sortChecked(sorted, sortedKeys, plan.order, budget, sortedId)) return finish(budget, { rows: [] });
    if (plan.implicitLimit && sorted.length > pageEnd) budget.stop('rows_returned_max');
    const ids = sorted.slice(plan.offset, pageEnd).map((e) => e.id);
    page: for (let i = 0; i < ids.length; i += BATCH) {
      for (const json of await store.getManyJson(plan.kind, ids.slice(i, i + BATCH))) {
        if (slice.due()) await slice.pause();
        // gone or changed since it was sorted: a record that no longer passes the filter is left out (once out of
        // time, records are not tested again: they passed when they were scanned)
        if (json === undefined) continue;
        let r: RemRecord | undefined;
        if (plan.filter && !budget.outOfTime) {
          const t = test(json);
          if (t === null) continue;
          if (t) r = t;
        }
        if (!addRow(json, r)) break page;
      }
    }
    return finish(budget, { rows });
  }
  if (plan.implicitLimit && matched > pageEnd) budget.stop('rows_returned_max');
  return finish(budget, { rows });
}

async function executeLookup(store: TenantStore, plan: LookupPlan, budget: Budget, bytes: ByteBudget): Promise<ExecResult> {
  const seen = new Set<string>();
  const results: Entity[] = [];
  keys: for (const key of plan.keys) {
    if (!budget.inTime()) break;
    const { entities: found, bytes: sizes } = await lookupEntitiesBounded(store, key, plan.type, budget.bounds.rowsReturnedMax);
    budget.stats.index_entries_read += found.length;
    budget.stats.records_read += found.length;
    for (const [i, e] of found.entries()) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      if (results.length >= budget.bounds.rowsReturnedMax) {
        budget.stop('rows_returned_max');
        break keys;
      }
      // measured from the stored JSON as it was read (`depth` and separators aside)
      if (!budget.tick(ROW_UNITS) || !fits(budget, bytes, sizes[i]!)) break keys;
      results.push(e);
    }
  }
  budget.stats.rows_scanned = budget.stats.rows_matched = results.length;
  return finish(budget, { results });
}

async function executeFuzzy(store: TenantStore, plan: FuzzyPlan, budget: Budget, bytes: ByteBudget): Promise<ExecResult> {
  const opts: { limit: number; threshold?: number } = { limit: plan.limit };
  if (plan.threshold !== undefined) opts.threshold = plan.threshold;
  const { hits, truncated } = await fuzzyEntities(store, plan.text, opts);
  if (truncated) budget.stop('rows_scanned_max');
  budget.stats.records_read = budget.stats.rows_matched = hits.length;
  const results: unknown[] = [];
  for (const h of hits) {
    const r = { ...h.entity, score: h.score, match: h.match, matched: h.matched };
    if (!budget.tick(ROW_UNITS) || !fits(budget, bytes, jsonBytes(r))) break;
    results.push(r);
  }
  return finish(budget, { results });
}

async function executeSearch(store: TenantStore, plan: SearchPlan, budget: Budget, bytes: ByteBudget): Promise<ExecResult> {
  const stats = budget.stats;
  const cap = Math.min(SEARCH_POOL_MAX, budget.bounds.rowsScannedMax);
  // without a residual filter the engine's own top-k is the answer; with one, widen the pool until enough hits pass
  let pool = plan.filter ? Math.min(cap, Math.max(plan.limit * 4, 20)) : plan.limit;
  for (;;) {
    // the engine hydrates hits within what is left of the answer's byte budget, and says when it stopped there
    const room = Math.max(0, bytes.bytesMax - bytes.used);
    const req = { query: plan.text, kinds: [plan.kind], mode: plan.mode, limit: pool, bytesMax: room, ...(plan.filters ? { filters: plan.filters } : {}) };
    const { hits, truncated } = await searchBounded(store, req);
    if (truncated) budget.stop(RESPONSE_BYTES_BOUND);
    stats.records_read = stats.rows_scanned = hits.length;
    const passing: typeof hits = [];
    const slice = new TimeSlice();
    for (const h of hits) {
      if (slice.due()) await slice.pause();
      if (!budget.tick(ROW_UNITS)) break;
      const pass = !plan.filter || budget.step(() => plan.filter!(h.record, budget));
      if (budget.outOfTime) break;
      if (pass) passing.push(h);
    }
    stats.rows_matched = passing.length;
    const exhausted = hits.length < pool;
    if (passing.length >= plan.limit || exhausted || truncated || pool >= cap || !budget.inTime()) {
      if (passing.length < plan.limit && !exhausted && pool >= cap) budget.stop('rows_scanned_max');
      const results: unknown[] = [];
      for (const h of passing.slice(0, plan.limit)) {
        if (!fits(budget, bytes, jsonBytes(h))) break;
        results.push(h);
      }
      return finish(budget, { results });
    }
    pool = Math.min(cap, pool * 4);
  }
}

async function executeTraverse(store: TenantStore, plan: TraversePlan, budget: Budget, bytes: ByteBudget): Promise<ExecResult> {
  const stats = budget.stats;
  let starts: string[] = [];
  if (ID_PATTERN.test(plan.from) && (await store.get<Entity>('entities', plan.from))) starts = [plan.from];
  else starts = (await lookupEntities(store, plan.from)).map((e) => e.id);
  stats.index_entries_read += starts.length;
  let nodes: (Entity & { depth: number })[] = [];
  let edges: GraphEdge[] = [];
  let bound: BoundName | undefined;
  const edgesMax = store.limits.traversalEdgesMax;
  for (const start of starts) {
    const room = plan.nodesMax - nodes.length;
    if (room <= 0) {
      bound = 'traversal_nodes_max';
      break;
    }
    if (edges.length >= edgesMax) {
      bound = 'traversal_edges_max';
      break;
    }
    // the walk shares the query's byte budget and clock (a key shared by several entities walks from each)
    const n = await neighbors(store, start, {
      depth: plan.depth,
      direction: plan.direction,
      rel: plan.rel,
      nodesMax: room,
      edgesMax: edgesMax - edges.length,
      bytes,
      clock: budget,
    });
    bound ??= n.bound;
    if (starts.length === 1) {
      // the common case: one start, whose neighbourhood is already deduplicated
      ({ nodes, edges } = n);
      break;
    }
    // a key shared by entities of several types: merge their neighbourhoods (a node keeps its smallest depth)
    const byId = new Map(nodes.map((x) => [x.id, x]));
    for (const node of n.nodes) {
      const prev = byId.get(node.id);
      if (!prev || prev.depth > node.depth) byId.set(node.id, node);
    }
    nodes = [...byId.values()];
    const seen = new Set(edges.map((e) => `${e.from}\u0000${e.rel}\u0000${e.to}`));
    edges.push(...n.edges.filter((e) => !seen.has(`${e.from}\u0000${e.rel}\u0000${e.to}`)));
    if (bound) break;
  }
  if (bound) budget.stop(bound === 'traversal_nodes_max' && plan.limited ? 'limit' : bound);
  const results = nodes.sort((a, b) => a.depth - b.depth || (a.id < b.id ? -1 : 1));
  stats.records_read = stats.rows_matched = results.length;
  return finish(budget, { results, edges });
}

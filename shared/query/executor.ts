// Executor: runs a plan against one tenant store within its bounds, counting the work it does (index entries and
// records read, rows scanned and matched). SELECT streams candidates in batches from its access path, tests each one
// against the filter, and stops as soon as the answer is known (no ORDER BY, or rows arriving in ORDER BY order, and
// offset + limit rows matched) or a bound is reached.
import { ID_PATTERN } from '../rem/ids.js';
import type { Entity, RemRecord } from '../rem/types.js';
import { search } from '../index/search.js';
import { fuzzyEntities, lookupEntities, neighbors, type GraphEdge } from '../store/entities.js';
import type { TenantStore } from '../store/tenant-store.js';
import { Grouper } from './aggregate.js';
import type { AccessPath } from './access.js';
import { Budget, type BoundName, type QueryStats } from './bounds.js';
import { getPath } from './fields.js';
import type { FuzzyPlan, LookupPlan, Plan, SearchPlan, SelectPlan, TraversePlan } from './planner.js';
import { compareValues } from './values.js';

const BATCH = 256;
const SEARCH_POOL_MAX = 4096;

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

export async function execute(store: TenantStore, plan: Plan, budget: Budget): Promise<ExecResult> {
  switch (plan.op) {
    case 'select':
      return executeSelect(store, plan, budget);
    case 'lookup':
      return executeLookup(store, plan, budget);
    case 'fuzzy':
      return executeFuzzy(store, plan, budget);
    case 'search':
      return executeSearch(store, plan, budget);
    case 'traverse':
      return executeTraverse(store, plan, budget);
  }
}

/**
 * Candidate records of an access path, in batches, counting reads. Batches start at `first` records and double, so a
 * query that stops early (ORDER BY on an index, LIMIT) reads little more than it returns.
 */
async function* candidates(store: TenantStore, plan: SelectPlan, access: AccessPath, budget: Budget, first: number): AsyncGenerator<RemRecord[]> {
  const stats = budget.stats;
  let size = Math.max(1, Math.min(BATCH, first));
  const next = () => {
    const n = size;
    size = Math.min(BATCH, size * 2);
    return n;
  };
  if (access.ids) {
    for (let i = 0; i < access.ids.length; i += BATCH) {
      const records = await store.getMany<RemRecord>(plan.kind, access.ids.slice(i, i + BATCH));
      stats.records_read += records.length;
      yield records.filter((r): r is RemRecord => r !== undefined);
    }
    return;
  }
  if (!access.ranges) {
    const it = store.kinds[plan.kind].records.values();
    try {
      for (;;) {
        const records = (await it.nextv(next())) as RemRecord[];
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
    const it = store.idx.values({ gte: range.gte, lt: range.lt, reverse: access.reverse === true });
    try {
      for (;;) {
        // read index entries no further than the scan bound allows (plus one, to know that it was reached)
        const ids = await it.nextv(Math.min(next(), budget.scanRoom + 1));
        if (ids.length === 0) break;
        stats.index_entries_read += ids.length;
        const fresh = seen ? ids.filter((id) => !seen.has(id) && (seen.add(id), true)) : ids;
        const records = await store.getMany<RemRecord>(plan.kind, fresh);
        stats.records_read += fresh.length;
        yield records.filter((r): r is RemRecord => r !== undefined);
      }
    } finally {
      await it.close();
    }
  }
}

function sortRows<T>(rows: T[], order: SelectPlan['order'], keyOf: (row: T, path: readonly string[]) => unknown, idOf?: (row: T) => string): void {
  rows.sort((a, b) => {
    for (const o of order) {
      const c = compareValues(keyOf(a, o.path), keyOf(b, o.path));
      if (c !== 0) return o.desc ? -c : c;
    }
    if (!idOf) return 0;
    const ia = idOf(a);
    const ib = idOf(b);
    const c = ia < ib ? -1 : ia > ib ? 1 : 0;
    return order[0]?.desc ? -c : c;
  });
}

async function executeSelect(store: TenantStore, plan: SelectPlan, budget: Budget): Promise<ExecResult> {
  const stats = budget.stats;
  const grouper = plan.grouping ? new Grouper(plan.grouping.paths, plan.grouping.specs) : undefined;
  // rows can stop early unless everything must be seen first (sorting in memory, grouping)
  const streaming = !grouper && (plan.order.length === 0 || plan.access.ordered);
  const wanted = plan.offset + plan.limit + (plan.implicitLimit ? 1 : 0);
  let matched: RemRecord[] = [];
  let done = streaming && wanted === 0;
  // sorting in memory keeps only the best `wanted` rows (sorted and cut whenever twice as many have gathered)
  const sortInMemory = !plan.access.ordered && plan.order.length > 0;
  const sortMatched = () => sortRows(matched, plan.order, (r, path) => getPath(r, path), (r) => (r as { id: string }).id);
  for await (const batch of done ? [] : candidates(store, plan, plan.access, budget, streaming ? wanted + 1 : BATCH)) {
    for (const r of batch) {
      if (stats.rows_scanned >= budget.bounds.rowsScannedMax) {
        budget.stop('rows_scanned_max');
        done = true;
        break;
      }
      stats.rows_scanned++;
      if (plan.filter && !plan.filter(r)) continue;
      stats.rows_matched++;
      if (grouper) grouper.add(r);
      else {
        matched.push(r);
        if (sortInMemory && matched.length >= 2 * wanted + 1024) {
          sortMatched();
          matched = matched.slice(0, wanted);
        }
      }
      if (streaming && matched.length >= wanted) {
        done = true;
        break;
      }
    }
    if (done || !budget.inTime()) break;
  }

  if (grouper) {
    const g = plan.grouping!;
    let rows = grouper.rows(g.names);
    sortRows(rows, plan.order, (row, path) => row[path[0]!]);
    if (g.hidden.length > 0) for (const row of rows) for (const h of g.hidden) delete row[h];
    if (plan.implicitLimit && rows.length > plan.offset + plan.limit) budget.stop('rows_returned_max');
    rows = rows.slice(plan.offset, plan.offset + plan.limit);
    return finish(budget, { rows });
  }
  if (sortInMemory) sortMatched();
  if (plan.implicitLimit && matched.length > plan.offset + plan.limit) budget.stop('rows_returned_max');
  const page = matched.slice(plan.offset, plan.offset + plan.limit);
  const cols = plan.columns;
  const rows =
    cols === '*'
      ? page
      : page.map((r) => {
          const row: Record<string, unknown> = {};
          for (const c of cols) row[c.name] = getPath(r, c.path) ?? null;
          return row;
        });
  return finish(budget, { rows });
}

async function executeLookup(store: TenantStore, plan: LookupPlan, budget: Budget): Promise<ExecResult> {
  const seen = new Set<string>();
  const results: Entity[] = [];
  for (const key of plan.keys) {
    const found = await lookupEntities(store, key, plan.type, budget.bounds.rowsReturnedMax);
    budget.stats.index_entries_read += found.length;
    budget.stats.records_read += found.length;
    for (const e of found) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      if (results.length >= budget.bounds.rowsReturnedMax) {
        budget.stop('rows_returned_max');
        break;
      }
      results.push(e);
    }
  }
  budget.stats.rows_scanned = budget.stats.rows_matched = results.length;
  return finish(budget, { results });
}

async function executeFuzzy(store: TenantStore, plan: FuzzyPlan, budget: Budget): Promise<ExecResult> {
  const opts: { limit: number; threshold?: number } = { limit: plan.limit };
  if (plan.threshold !== undefined) opts.threshold = plan.threshold;
  const { hits, truncated } = await fuzzyEntities(store, plan.text, opts);
  if (truncated) budget.stop('rows_scanned_max');
  budget.stats.records_read = budget.stats.rows_matched = hits.length;
  const results = hits.map((h) => ({ ...h.entity, score: h.score, match: h.match, matched: h.matched }));
  return finish(budget, { results });
}

async function executeSearch(store: TenantStore, plan: SearchPlan, budget: Budget): Promise<ExecResult> {
  const stats = budget.stats;
  const cap = Math.min(SEARCH_POOL_MAX, budget.bounds.rowsScannedMax);
  // without a residual filter the engine's own top-k is the answer; with one, widen the pool until enough hits pass
  let pool = plan.filter ? Math.min(cap, Math.max(plan.limit * 4, 20)) : plan.limit;
  for (;;) {
    const req = { query: plan.text, kinds: [plan.kind], mode: plan.mode, limit: pool, ...(plan.filters ? { filters: plan.filters } : {}) };
    const hits = await search(store, req);
    stats.records_read = stats.rows_scanned = hits.length;
    const passing = plan.filter ? hits.filter((h) => plan.filter!(h.record)) : hits;
    stats.rows_matched = passing.length;
    const exhausted = hits.length < pool;
    if (passing.length >= plan.limit || exhausted || pool >= cap || !budget.inTime()) {
      if (passing.length < plan.limit && !exhausted && pool >= cap) budget.stop('rows_scanned_max');
      return finish(budget, { results: passing.slice(0, plan.limit) });
    }
    pool = Math.min(cap, pool * 4);
  }
}

async function executeTraverse(store: TenantStore, plan: TraversePlan, budget: Budget): Promise<ExecResult> {
  const stats = budget.stats;
  let starts: string[] = [];
  if (ID_PATTERN.test(plan.from) && (await store.get<Entity>('entities', plan.from))) starts = [plan.from];
  else starts = (await lookupEntities(store, plan.from)).map((e) => e.id);
  stats.index_entries_read += starts.length;
  let nodes: (Entity & { depth: number })[] = [];
  let edges: GraphEdge[] = [];
  let truncated = false;
  for (const start of starts) {
    const room = plan.nodesMax - nodes.length;
    if (room <= 0) {
      truncated = true;
      break;
    }
    const n = await neighbors(store, start, { depth: plan.depth, direction: plan.direction, rel: plan.rel, nodesMax: room });
    truncated ||= n.truncated;
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
  }
  if (truncated) budget.stop(plan.limited ? 'limit' : 'traversal_nodes_max');
  const results = nodes.sort((a, b) => a.depth - b.depth || (a.id < b.id ? -1 : 1));
  stats.records_read = stats.rows_matched = results.length;
  return finish(budget, { results, edges });
}

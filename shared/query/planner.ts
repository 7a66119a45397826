// Planner: a parsed statement plus parameters becomes an executable plan (bound values, compiled filter, chosen access
// path, projection, grouping, ordering, limits). `describe` is what EXPLAIN returns and every result carries.
import type { RemKind } from '../rem/types.js';
import type { SearchFilters } from '../search/search.js';
import { chooseAccess, conjuncts, type AccessPath, type IndexCatalog } from './access.js';
import type { AggregateSpec } from './aggregate.js';
import { aggregateName, type Direction, type Mode, type OrderItem, type Query, type SelectQuery } from './ast.js';
import { bindExpr, formatExpr, intOperand, numberOperand, stringOperand, type BoundExpr, type Params } from './bind.js';
import type { QueryBounds } from './bounds.js';
import { compileExpr, type Predicate } from './eval.js';
import { checkField } from './fields.js';
import { queryError } from './lexer.js';
import { likePrefix } from './values.js';

export const TRAVERSE_DEPTH_MAX = 10;
export const OFFSET_MAX = 1_000_000;
const DEFAULT_RESULTS = 10;

export interface SelectPlan {
  op: 'select';
  kind: RemKind;
  access: AccessPath;
  filter: Predicate | undefined;
  /** Whole records (`*`) or named columns read from paths. */
  columns: '*' | { name: string; path: readonly string[] }[];
  grouping?: { paths: (readonly string[])[]; names: string[]; specs: AggregateSpec[]; hidden: string[] };
  /** Sort keys: record paths (plain SELECT) or output column names (grouped). */
  order: { path: readonly string[]; desc: boolean }[];
  limit: number;
  /** LIMIT was not given: `limit` is the rows-returned bound and reaching it is reported as truncation. */
  implicitLimit: boolean;
  offset: number;
  describe: Record<string, unknown>;
}

export interface LookupPlan {
  op: 'lookup';
  keys: string[];
  type?: string;
  describe: Record<string, unknown>;
}

export interface FuzzyPlan {
  op: 'fuzzy';
  text: string;
  threshold?: number;
  limit: number;
  describe: Record<string, unknown>;
}

export interface SearchPlan {
  op: 'search';
  text: string;
  kind: RemKind;
  mode: Mode;
  limit: number;
  filters?: SearchFilters;
  filter: Predicate | undefined;
  describe: Record<string, unknown>;
}

export interface TraversePlan {
  op: 'traverse';
  from: string;
  depth: number;
  direction: Direction;
  rel?: string;
  nodesMax: number;
  /** The node limit came from LIMIT (not from the configured bound). */
  limited: boolean;
  describe: Record<string, unknown>;
}

export type Plan = SelectPlan | LookupPlan | FuzzyPlan | SearchPlan | TraversePlan;

export interface PlanContext {
  params: Params;
  bounds: QueryBounds;
  catalog: IndexCatalog;
}

export function plan(q: Query, ctx: PlanContext): Plan {
  const { params, bounds } = ctx;
  switch (q.type) {
    case 'lookup': {
      const keys = q.keys.map((k) => stringOperand(k, params, 'a LOOKUP key'));
      const type = q.entityType ? stringOperand(q.entityType, params, 'TYPE') : undefined;
      const describe = { op: 'lookup', keys, ...(type !== undefined ? { type } : {}), access: { access: 'index_eq', index: 'ekey' } };
      return type !== undefined ? { op: 'lookup', keys, type, describe } : { op: 'lookup', keys, describe };
    }
    case 'fuzzy': {
      const text = stringOperand(q.text, params, 'FUZZY text');
      const threshold = numberOperand(q.threshold, params, 'THRESHOLD', 0, 1);
      const limit = intOperand(q.limit, params, 'LIMIT', 1, bounds.rowsReturnedMax, DEFAULT_RESULTS);
      const describe = { op: 'fuzzy', text, threshold: threshold ?? null, limit, access: { access: 'index_scan', index: 'ename' } };
      return threshold !== undefined ? { op: 'fuzzy', text, threshold, limit, describe } : { op: 'fuzzy', text, limit, describe };
    }
    case 'search':
      return planSearch(q, ctx);
    case 'traverse': {
      const from = stringOperand(q.from, params, 'TRAVERSE FROM');
      const depth = intOperand(q.depth, params, 'DEPTH', 1, TRAVERSE_DEPTH_MAX, 1);
      const direction = q.direction ?? 'both';
      const rel = q.rel ? stringOperand(q.rel, params, 'TYPE') : undefined;
      const nodesMax = intOperand(q.limit, params, 'LIMIT', 1, bounds.traversalNodesMax, bounds.traversalNodesMax);
      const describe = { op: 'traverse', from, depth, direction, rel: rel ?? null, nodes_max: nodesMax, access: { access: 'index_eq', index: 'redge' } };
      const p: TraversePlan = { op: 'traverse', from, depth, direction, nodesMax, limited: q.limit !== undefined, describe };
      if (rel !== undefined) p.rel = rel;
      return p;
    }
    case 'select':
      return planSelect(q, ctx);
  }
}

const TIME_OF: Record<RemKind, string> = { resources: 'created_at', entities: 'updated_at', moments: 'start_time' };

/** Filters the search engine can apply itself (a superset of the WHERE clause; the rest is checked on the hits). */
function pushdown(kind: RemKind, where: BoundExpr | undefined): SearchFilters | undefined {
  const f: SearchFilters = {};
  for (const c of conjuncts(where)) {
    if (kind === 'resources' && c.type === 'like' && !c.negated && c.field.text === 'uri') {
      const p = likePrefix(c.pattern);
      if (p) f.uri_prefix = p;
    }
    if (kind === 'resources' && c.type === 'cmp' && c.op === '=' && c.field.text === 'uri' && typeof c.value === 'string') f.uri_prefix = c.value;
    if (c.type === 'cmp' && c.conv === 'time' && c.field.text === TIME_OF[kind] && typeof c.value === 'number') {
      const iso = new Date(c.value).toISOString();
      if (c.op === '>' || c.op === '>=' || c.op === '=') f.from = iso;
      if (c.op === '<' || c.op === '<=' || c.op === '=') f.to = iso;
    }
  }
  return Object.keys(f).length > 0 ? f : undefined;
}

function planSearch(q: Extract<Query, { type: 'search' }>, ctx: PlanContext): SearchPlan {
  const text = stringOperand(q.text, ctx.params, 'SEARCH text');
  if (text.trim().length === 0) throw queryError(q.text.pos, 'SEARCH text must not be empty');
  const mode = q.mode ?? 'hybrid';
  const limit = intOperand(q.limit, ctx.params, 'LIMIT', 1, ctx.bounds.rowsReturnedMax, DEFAULT_RESULTS);
  const where = q.where ? bindExpr(q.where, q.kind, ctx.params) : undefined;
  const filters = pushdown(q.kind, where);
  const describe = { op: 'search', kind: q.kind, mode, text, limit, pushed_filters: filters ?? null, filter: where ? formatExpr(where) : null };
  const p: SearchPlan = { op: 'search', text, kind: q.kind, mode, limit, filter: where ? compileExpr(where) : undefined, describe };
  if (filters) p.filters = filters;
  return p;
}

function planSelect(q: SelectQuery, ctx: PlanContext): SelectPlan {
  const { params, bounds } = ctx;
  const where = q.where ? bindExpr(q.where, q.kind, params) : undefined;
  const limit = intOperand(q.limit, params, 'LIMIT', 0, bounds.rowsReturnedMax, bounds.rowsReturnedMax);
  const offset = intOperand(q.offset, params, 'OFFSET', 0, OFFSET_MAX, 0);
  for (const g of q.groupBy) checkField(q.kind, g);
  const items = q.items === '*' ? [] : q.items;
  const aggregated = q.groupBy.length > 0 || items.some((i) => i.type === 'agg');
  if (q.items === '*' && aggregated) throw queryError(q.pos, 'SELECT * cannot be grouped; name the GROUP BY fields and aggregates');
  for (const i of items) if (i.field) checkField(q.kind, i.field);

  let columns: SelectPlan['columns'] = '*';
  let grouping: SelectPlan['grouping'];
  const order: SelectPlan['order'] = [];
  const orderShown: { by: string; direction: 'asc' | 'desc' }[] = [];

  if (aggregated) {
    const groupTexts = q.groupBy.map((g) => g.text);
    const specs: AggregateSpec[] = [];
    const names: string[] = q.groupBy.map((g) => g.text);
    for (const i of items) {
      if (i.type === 'field') {
        const at = groupTexts.indexOf(i.field.text);
        if (at < 0) throw queryError(i.field.pos, `${i.field.text} must appear in GROUP BY or inside an aggregate`);
        if (i.alias) names[at] = i.alias;
      } else {
        const spec: AggregateSpec = { fn: i.fn, name: i.alias ?? aggregateName(i.fn, i.field) };
        if (i.field) spec.path = i.field.path;
        specs.push(spec);
      }
    }
    const hidden: string[] = [];
    for (const o of q.orderBy) {
      const name = groupedOrderColumn(o, q, names, specs, hidden);
      order.push({ path: [name], desc: o.desc });
      orderShown.push({ by: name, direction: o.desc ? 'desc' : 'asc' });
    }
    grouping = { paths: q.groupBy.map((g) => g.path), names, specs, hidden };
  } else {
    // not aggregated: every item is a field
    if (q.items !== '*') columns = items.flatMap((i) => (i.type === 'field' ? [{ name: i.alias ?? i.field.text, path: i.field.path }] : []));
    for (const o of q.orderBy) {
      if (o.target.type === 'agg') throw queryError(o.target.pos, 'ORDER BY an aggregate needs aggregates in SELECT or a GROUP BY');
      const f = o.target.field;
      const aliased = items.find((i) => i.type === 'field' && i.alias === f.text);
      const path = aliased?.type === 'field' ? aliased.field.path : (checkField(q.kind, f), f.path);
      order.push({ path, desc: o.desc });
      orderShown.push({ by: path.join('.'), direction: o.desc ? 'desc' : 'asc' });
    }
  }

  const single = !aggregated && order.length === 1 ? { field: order[0]!.path.join('.'), desc: order[0]!.desc } : undefined;
  const access = chooseAccess(q.kind, where, ctx.catalog, single);
  const describe: Record<string, unknown> = {
    op: 'select',
    kind: q.kind,
    access: access.describe,
    filter: where ? formatExpr(where) : null,
  };
  if (grouping) describe.group_by = grouping.names.slice(0, q.groupBy.length);
  if (grouping) describe.aggregates = grouping.specs.map((s) => s.name);
  if (orderShown.length > 0) {
    describe.order = orderShown;
    describe.sorted_by = access.ordered ? 'index' : 'sort';
  }
  describe.limit = limit;
  describe.offset = offset;
  const p: SelectPlan = {
    op: 'select',
    kind: q.kind,
    access,
    filter: where ? compileExpr(where) : undefined,
    columns,
    order,
    limit,
    implicitLimit: q.limit === undefined,
    offset,
    describe,
  };
  if (grouping) p.grouping = grouping;
  return p;
}

/** The output column an ORDER BY item of a grouped query sorts by (aggregates not selected are computed hidden). */
function groupedOrderColumn(o: OrderItem, q: SelectQuery, names: string[], specs: AggregateSpec[], hidden: string[]): string {
  const t = o.target;
  if (t.type === 'field') {
    if (names.includes(t.field.text)) return t.field.text;
    if (specs.some((s) => s.name === t.field.text)) return t.field.text;
    const g = q.groupBy.findIndex((x) => x.text === t.field.text);
    if (g >= 0) return names[g]!;
    throw queryError(t.field.pos, `ORDER BY ${t.field.text} must name a GROUP BY field, an alias or an aggregate`);
  }
  const name = aggregateName(t.fn, t.field);
  const same = specs.find((s) => s.fn === t.fn && (s.path ?? []).join('.') === (t.field?.path ?? []).join('.'));
  if (same) return same.name;
  if (t.field) checkField(q.kind, t.field);
  const spec: AggregateSpec = { fn: t.fn, name };
  if (t.field) spec.path = t.field.path;
  specs.push(spec);
  hidden.push(name);
  return name;
}

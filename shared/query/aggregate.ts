// Aggregates (COUNT SUM AVG MIN MAX) with GROUP BY. Groups are keyed by the JSON of their field values; SUM and AVG
// take numbers only (other values are skipped), COUNT(field) counts non-null values, MIN and MAX use the dialect's
// total order (values.ts). SUM, AVG, MIN and MAX of no values are null, as in SQL.
import type { AggregateFn } from './ast.js';
import { getPath } from './fields.js';
import { compareValues } from './values.js';

export interface AggregateSpec {
  fn: AggregateFn;
  /** Field path, or undefined for COUNT(*). */
  path?: readonly string[];
  /** Output column name. */
  name: string;
}

interface State {
  count: number;
  sum: number;
  numbers: number;
  best: unknown;
}

export class Grouper {
  private readonly groups = new Map<string, { keys: unknown[]; states: State[] }>();

  constructor(
    private readonly groupPaths: readonly (readonly string[])[],
    private readonly specs: readonly AggregateSpec[],
  ) {}

  get size(): number {
    return this.groups.size;
  }

  add(record: unknown): void {
    const keys = this.groupPaths.map((p) => getPath(record, p) ?? null);
    const id = JSON.stringify(keys);
    let g = this.groups.get(id);
    if (!g) {
      g = { keys, states: this.specs.map(() => ({ count: 0, sum: 0, numbers: 0, best: undefined })) };
      this.groups.set(id, g);
    }
    this.specs.forEach((s, i) => {
      const st = g.states[i]!;
      if (!s.path) {
        st.count++;
        return;
      }
      const v = getPath(record, s.path);
      if (v === undefined || v === null) return;
      st.count++;
      if (typeof v === 'number') {
        st.sum += v;
        st.numbers++;
      }
      if (st.best === undefined || (s.fn === 'min' ? compareValues(v, st.best) < 0 : compareValues(v, st.best) > 0)) st.best = v;
    });
  }

  /**
   * One row per group: group columns (by `groupNames`) then aggregate columns. An empty input with no GROUP BY gives
   * one row. Rows are null-prototype objects: a column the client named `__proto__` is a column like any other.
   */
  rows(groupNames: readonly string[]): Record<string, unknown>[] {
    if (this.groups.size === 0 && this.groupPaths.length === 0) this.groups.set('[]', { keys: [], states: this.specs.map(() => ({ count: 0, sum: 0, numbers: 0, best: undefined })) });
    const out: Record<string, unknown>[] = [];
    for (const g of this.groups.values()) {
      const row: Record<string, unknown> = Object.create(null);
      groupNames.forEach((n, i) => (row[n] = g.keys[i]));
      this.specs.forEach((s, i) => (row[s.name] = finish(s.fn, g.states[i]!)));
      out.push(row);
    }
    return out;
  }
}

function finish(fn: AggregateFn, st: State): unknown {
  switch (fn) {
    case 'count':
      return st.count;
    case 'sum':
      return st.numbers > 0 ? st.sum : null;
    case 'avg':
      return st.numbers > 0 ? st.sum / st.numbers : null;
    default:
      return st.best ?? null;
  }
}

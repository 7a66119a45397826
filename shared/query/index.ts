// The REM query dialect over one tenant store: parse -> plan -> execute. See parser.ts for the grammar, access.ts for
// index selection and bounds.ts for the limits every query runs within.
import type { TenantStore } from '../store/tenant-store.js';
import type { Params } from './bind.js';
import { Budget, DEFAULT_BOUNDS, type QueryBounds } from './bounds.js';
import { execute, type ExecResult } from './executor.js';
import { parse } from './parser.js';
import { plan as planQuery, type Plan } from './planner.js';

export { parse } from './parser.js';
export { DEFAULT_BOUNDS, type QueryBounds } from './bounds.js';

export interface QueryResult extends Partial<ExecResult> {
  /** The plan as EXPLAIN shows it. */
  plan: Record<string, unknown>;
  explain: boolean;
}

/** Plans a statement against the store's current indexes (no records are read). */
export function planStatement(store: TenantStore, text: string, params: Params = [], bounds: QueryBounds = DEFAULT_BOUNDS): { plan: Plan; explain: boolean } {
  const stmt = parse(text);
  const registry = store.schemas;
  return { plan: planQuery(stmt.query, { params, bounds, catalog: registry }), explain: stmt.explain };
}

/** Runs one statement; EXPLAIN returns the plan without executing it. */
export async function runQuery(store: TenantStore, text: string, params: Params = [], bounds: QueryBounds = DEFAULT_BOUNDS): Promise<QueryResult> {
  const { plan, explain } = planStatement(store, text, params, bounds);
  if (explain) return { plan: plan.describe, explain };
  const result = await execute(store, plan, new Budget(bounds));
  return { ...result, plan: plan.describe, explain };
}

// Compiles a bound expression into a predicate over records (closures, so a scan does not re-walk the tree per row).
import { normalizeKey } from '../rem/text.js';
import type { BoundExpr, Conversion } from './bind.js';
import { getPath } from './fields.js';
import type { Clock } from './bounds.js';
import { compareScalar, equalScalar, likeMatcher, timeValue } from './values.js';

/**
 * A compiled filter. Long work inside it (LIKE over a huge text) counts on `clock`; once the clock says the query is
 * out of time the answer means nothing and the caller stops (Budget.outOfTime).
 */
export type Predicate = (record: unknown, clock?: Clock) => boolean;

/** Any element of an array field, or the value itself, satisfies `test`. */
function anyOf(v: unknown, test: (x: unknown) => boolean): boolean {
  return Array.isArray(v) ? v.some(test) : test(v);
}

export function compileExpr(e: BoundExpr): Predicate {
  switch (e.type) {
    case 'and': {
      const items = e.items.map(compileExpr);
      return (r, clock) => items.every((p) => p(r, clock));
    }
    case 'or': {
      const items = e.items.map(compileExpr);
      return (r, clock) => items.some((p) => p(r, clock));
    }
    case 'not': {
      const inner = compileExpr(e.expr);
      return (r, clock) => !inner(r, clock);
    }
    case 'cmp': {
      const read = reader(e.field.path, e.conv);
      const value = e.value;
      switch (e.op) {
        case '=':
          return (r) => anyOf(read(r), (x) => equalScalar(x, value));
        case '!=':
          return (r) => !anyOf(read(r), (x) => equalScalar(x, value));
        default: {
          const op = e.op;
          return (r) => anyOf(read(r), (x) => compareScalar(op, x, value));
        }
      }
    }
    case 'in': {
      const read = reader(e.field.path, e.conv);
      // a set, so that a long list against a long array field costs their sum, not their product
      const values = new Set(e.values.filter((v) => v !== null));
      const nullable = e.values.includes(null);
      const test = (r: unknown) => anyOf(read(r), (x) => values.has(x as never) || (nullable && (x === null || x === undefined)));
      return e.negated ? (r) => !test(r) : test;
    }
    case 'like': {
      const read = reader(e.field.path, e.conv);
      const m = likeMatcher(e.pattern);
      const test = (r: unknown, clock?: Clock) => anyOf(read(r), (x) => typeof x === 'string' && m.test(x, clock));
      return e.negated ? (r, clock) => !test(r, clock) : test;
    }
    case 'isnull': {
      const path = e.field.path;
      const test = (r: unknown) => {
        const v = getPath(r, path);
        return v === undefined || v === null;
      };
      return e.negated ? (r) => !test(r) : test;
    }
  }
}

/** Reads a field converted for comparison (see Conversion): timestamps to epoch ms, entity type/key normalised. */
export function reader(path: readonly string[], conv: Conversion): (r: unknown) => unknown {
  if (conv === 'time') {
    return (r) => {
      const v = getPath(r, path);
      return v === undefined || v === null ? v : (timeValue(v) ?? v);
    };
  }
  if (conv === 'key') {
    return (r) => {
      const v = getPath(r, path);
      return typeof v === 'string' ? normalizeKey(v) : v;
    };
  }
  return (r) => getPath(r, path);
}

// Compiles a bound expression into a predicate over records (closures, so a scan does not re-walk the tree per row).
import { normalizeKey } from '../rem/text.js';
import type { BoundExpr, Conversion } from './bind.js';
import { getPath } from './fields.js';
import { compareScalar, equalScalar, likeRegExp, timeValue } from './values.js';

export type Predicate = (record: unknown) => boolean;

/** Any element of an array field, or the value itself, satisfies `test`. */
function anyOf(v: unknown, test: (x: unknown) => boolean): boolean {
  return Array.isArray(v) ? v.some(test) : test(v);
}

export function compileExpr(e: BoundExpr): Predicate {
  switch (e.type) {
    case 'and': {
      const items = e.items.map(compileExpr);
      return (r) => items.every((p) => p(r));
    }
    case 'or': {
      const items = e.items.map(compileExpr);
      return (r) => items.some((p) => p(r));
    }
    case 'not': {
      const inner = compileExpr(e.expr);
      return (r) => !inner(r);
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
      const values = e.values;
      const test = (r: unknown) => anyOf(read(r), (x) => values.some((y) => equalScalar(x, y)));
      return e.negated ? (r) => !test(r) : test;
    }
    case 'like': {
      const read = reader(e.field.path, e.conv);
      const re = likeRegExp(e.pattern);
      const test = (r: unknown) => anyOf(read(r), (x) => typeof x === 'string' && re.test(x));
      return e.negated ? (r) => !test(r) : test;
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

// Binding: parameters replaced by their values, fields checked against the kind, timestamps turned into instants.
// The result (a bound expression) is what the planner chooses indexes from and the evaluator compiles.
import { normalizeKey } from '../rem/text.js';
import type { RemKind } from '../rem/types.js';
import type { CompareOp, Expr, FieldRef, Operand, Scalar } from './ast.js';
import { checkField, isTimeField } from './fields.js';
import { queryError } from './lexer.js';
import { formatScalar } from './values.js';

export type Params = readonly unknown[];

/**
 * How a field's values compare: `time` fields (timestamps) as epoch ms, entity `type` and `key` in their normalised
 * form (case- and space-insensitive, as identity and lookup treat them), everything else as stored.
 */
export type Conversion = 'time' | 'key' | 'none';

export function conversionOf(kind: RemKind, f: FieldRef): Conversion {
  if (isTimeField(f)) return 'time';
  if (kind === 'entities' && f.path.length === 1 && (f.path[0] === 'type' || f.path[0] === 'key')) return 'key';
  return 'none';
}

/** A literal converted for comparison with a field of conversion `conv`. */
function convertOperand(field: FieldRef, conv: Conversion, v: Scalar, at: Operand): Scalar {
  if (conv === 'key') return typeof v === 'string' ? normalizeKey(v) : v;
  if (conv !== 'time' || v === null) return v;
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw queryError(at.pos, `${field.text} compares with a date or RFC 3339 timestamp, got ${formatScalar(v)}`);
  return ms;
}

export type BoundExpr =
  | { type: 'and' | 'or'; items: BoundExpr[] }
  | { type: 'not'; expr: BoundExpr }
  | { type: 'cmp'; op: CompareOp; field: FieldRef; value: Scalar; conv: Conversion }
  | { type: 'in'; field: FieldRef; values: Scalar[]; negated: boolean; conv: Conversion }
  | { type: 'like'; field: FieldRef; pattern: string; negated: boolean; conv: Conversion }
  | { type: 'isnull'; field: FieldRef; negated: boolean };

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** The value of a literal or parameter; parameters may also be arrays (for IN) when `allowList`. */
export function operandValue(op: Operand, params: Params, allowList = false): Scalar | Scalar[] {
  if (op.type === 'literal') return op.value;
  if (op.index > params.length) {
    throw queryError(op.pos, `parameter $${op.index} is not bound (${params.length} given)`, { expected: [`at least ${op.index} params`], found: `${params.length}` });
  }
  const v = params[op.index - 1];
  if (isScalar(v)) return v;
  if (allowList && Array.isArray(v) && v.every(isScalar)) return v;
  throw queryError(op.pos, `parameter $${op.index} must be a string, number, boolean or null${allowList ? ' (or an array of them)' : ''}`);
}

export function scalarOperand(op: Operand, params: Params): Scalar {
  return operandValue(op, params) as Scalar;
}

export function stringOperand(op: Operand, params: Params, what: string): string {
  const v = scalarOperand(op, params);
  if (typeof v !== 'string') throw queryError(op.pos, `${what} must be a string`);
  return v;
}

export function intOperand(op: Operand | undefined, params: Params, what: string, min: number, max: number, fallback: number): number {
  if (!op) return fallback;
  const v = scalarOperand(op, params);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw queryError(op.pos, `${what} must be an integer in [${min}, ${max}]`, { expected: [`integer in [${min}, ${max}]`], found: String(v) });
  }
  return v;
}

export function numberOperand(op: Operand | undefined, params: Params, what: string, min: number, max: number): number | undefined {
  if (!op) return undefined;
  const v = scalarOperand(op, params);
  if (typeof v !== 'number' || v < min || v > max) throw queryError(op.pos, `${what} must be a number in [${min}, ${max}]`);
  return v;
}

export function bindExpr(e: Expr, kind: RemKind, params: Params): BoundExpr {
  switch (e.type) {
    case 'and':
    case 'or':
      return { type: e.type, items: e.items.map((x) => bindExpr(x, kind, params)) };
    case 'not':
      return { type: 'not', expr: bindExpr(e.expr, kind, params) };
    case 'cmp': {
      checkField(kind, e.field);
      const conv = conversionOf(kind, e.field);
      return { type: 'cmp', op: e.op, field: e.field, value: convertOperand(e.field, conv, scalarOperand(e.value, params), e.value), conv };
    }
    case 'in': {
      checkField(kind, e.field);
      const conv = conversionOf(kind, e.field);
      const values = e.values.flatMap((op) => {
        const v = operandValue(op, params, true);
        return (Array.isArray(v) ? v : [v]).map((x) => convertOperand(e.field, conv, x, op));
      });
      return { type: 'in', field: e.field, values, negated: e.negated, conv };
    }
    case 'like': {
      checkField(kind, e.field);
      const conv = conversionOf(kind, e.field) === 'key' ? 'key' : 'none';
      const pattern = stringOperand(e.pattern, params, 'a LIKE pattern');
      return { type: 'like', field: e.field, pattern: conv === 'key' ? normalizeKey(pattern) : pattern, negated: e.negated, conv };
    }
    case 'isnull':
      checkField(kind, e.field);
      return { type: 'isnull', field: e.field, negated: e.negated };
  }
}

/** Dialect text of a bound expression (EXPLAIN shows filters this way). */
export function formatExpr(e: BoundExpr, top = true): string {
  const val = (v: Scalar, conv: Conversion) => (conv === 'time' && typeof v === 'number' ? `'${new Date(v).toISOString()}'` : formatScalar(v));
  switch (e.type) {
    case 'and':
    case 'or': {
      const s = e.items.map((x) => formatExpr(x, false)).join(e.type === 'and' ? ' AND ' : ' OR ');
      return top ? s : `(${s})`;
    }
    case 'not':
      return `NOT ${formatExpr(e.expr, false)}`;
    case 'cmp':
      return `${e.field.text} ${e.op} ${val(e.value, e.conv)}`;
    case 'in':
      return `${e.field.text}${e.negated ? ' NOT' : ''} IN (${e.values.map((v) => val(v, e.conv)).join(', ')})`;
    case 'like':
      return `${e.field.text}${e.negated ? ' NOT' : ''} LIKE ${formatScalar(e.pattern)}`;
    case 'isnull':
      return `${e.field.text} IS${e.negated ? ' NOT' : ''} NULL`;
  }
}

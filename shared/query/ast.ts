// Abstract syntax of the REM query dialect. Every node that can be at fault in a later (planning) error keeps its
// source position. Literals and $n parameters stay apart here; the planner binds parameters.
import type { RemKind } from '../rem/types.js';
import type { Position } from './lexer.js';

export type Scalar = string | number | boolean | null;

export type Operand = { type: 'literal'; value: Scalar; pos: Position } | { type: 'param'; index: number; pos: Position };

export interface FieldRef {
  /** Path segments: `properties.age` -> ['properties', 'age']. */
  path: string[];
  /** The path as written, dotted (used as the output column name). */
  text: string;
  pos: Position;
}

export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Expr =
  | { type: 'and'; items: Expr[] }
  | { type: 'or'; items: Expr[] }
  | { type: 'not'; expr: Expr }
  | { type: 'cmp'; op: CompareOp; field: FieldRef; value: Operand }
  /** `field IN (a, b)`; a single parameter bound to an array also expands here. */
  | { type: 'in'; field: FieldRef; values: Operand[]; negated: boolean }
  | { type: 'like'; field: FieldRef; pattern: Operand; negated: boolean }
  | { type: 'isnull'; field: FieldRef; negated: boolean };

export type AggregateFn = 'count' | 'sum' | 'avg' | 'min' | 'max';

export type SelectItem =
  | { type: 'field'; field: FieldRef; alias?: string }
  /** `field` undefined means `COUNT(*)`. */
  | { type: 'agg'; fn: AggregateFn; field?: FieldRef; alias?: string; pos: Position };

export interface OrderItem {
  /** An output column: a field path, an alias, or an aggregate as written (`count(*)`). */
  target: { type: 'field'; field: FieldRef } | { type: 'agg'; fn: AggregateFn; field?: FieldRef; pos: Position };
  desc: boolean;
}

export type Direction = 'out' | 'in' | 'both';
export type Mode = 'hybrid' | 'vector' | 'keyword';

export interface LookupQuery {
  type: 'lookup';
  keys: Operand[];
  entityType?: Operand;
}

export interface FuzzyQuery {
  type: 'fuzzy';
  text: Operand;
  threshold?: Operand;
  limit?: Operand;
}

export interface SearchQuery {
  type: 'search';
  text: Operand;
  kind: RemKind;
  mode?: Mode;
  where?: Expr;
  limit?: Operand;
}

export interface TraverseQuery {
  type: 'traverse';
  from: Operand;
  depth?: Operand;
  direction?: Direction;
  rel?: Operand;
  limit?: Operand;
}

export interface SelectQuery {
  type: 'select';
  /** `'*'` for whole records. */
  items: SelectItem[] | '*';
  kind: RemKind;
  where?: Expr;
  groupBy: FieldRef[];
  orderBy: OrderItem[];
  limit?: Operand;
  offset?: Operand;
  pos: Position;
}

export type Query = LookupQuery | FuzzyQuery | SearchQuery | TraverseQuery | SelectQuery;

export interface Statement {
  explain: boolean;
  query: Query;
}

/** Output column name of an aggregate when it has no alias: `count(*)`, `avg(properties.age)`. */
export function aggregateName(fn: AggregateFn, field?: FieldRef): string {
  return `${fn}(${field ? field.text : '*'})`;
}

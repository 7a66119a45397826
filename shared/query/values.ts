// Value semantics of the dialect, shared by the evaluator, sorting and aggregation.
//
// - Comparisons are between values of the same JSON type (number, string, boolean); other pairs are not equal and not
//   ordered, so `properties.age > 30` is false for a missing or textual age. Strings compare by code point (the order
//   of the UTF-8 index keys). `= NULL` holds for missing and null values.
// - A field holding an array matches when any element matches (`tags = 'work'`).
// - Sorting is total: missing/null < booleans < numbers < strings < arrays/objects (by their JSON text).
import type { Scalar } from './ast.js';

/** Code-point order of two strings (UTF-16 order differs for characters beyond the BMP). */
export function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (beyond the BMP) sort after U+E000..U+FFFF in code-point order
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

function rank(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'number') return 2;
  if (typeof v === 'string') return 3;
  return 4;
}

/** Total order over JSON values for ORDER BY, MIN and MAX. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return Number(a) - Number(b);
    case 2:
      return (a as number) - (b as number);
    case 3:
      return compareText(a as string, b as string);
    default:
      return compareText(JSON.stringify(a), JSON.stringify(b));
  }
}

/** `a <op> b` for two scalars of the same type; false across types (see the module comment). */
export function compareScalar(op: '<' | '<=' | '>' | '>=', a: unknown, b: Scalar): boolean {
  if (a === null || b === null || typeof a !== typeof b || typeof a === 'object') return false;
  const c = typeof a === 'string' ? compareText(a, b as string) : Number(a) - Number(b);
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
}

export function equalScalar(a: unknown, b: Scalar): boolean {
  if (b === null) return a === null || a === undefined;
  return a === b;
}

/** Anchored regular expression for a LIKE pattern: `%` any run, `_` one character, `\` escapes. Case-sensitive. */
export function likeRegExp(pattern: string): RegExp {
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) src += escapeRegExp(pattern[++i]!);
    else if (c === '%') src += '.*';
    else if (c === '_') src += '.';
    else src += escapeRegExp(c);
  }
  return new RegExp(`^${src}$`, 'su');
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The literal prefix of a LIKE pattern before its first wildcard (index range for `LIKE 'abc%'`). */
export function likePrefix(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '%' || c === '_') break;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i]!;
    else out += c;
  }
  return out;
}

/** Epoch ms of a timestamp text, or undefined. */
export function timeValue(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Renders a scalar as dialect text (for EXPLAIN). */
export function formatScalar(v: Scalar): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `'${v.replace(/'/g, "''")}'`;
  return String(v);
}

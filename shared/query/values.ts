// Value semantics of the dialect, shared by the evaluator, sorting and aggregation.
//
// - Comparisons are between values of the same JSON type (number, string, boolean); other pairs are not equal and not
//   ordered, so `properties.age > 30` is false for a missing or textual age. Strings compare by code point (the order
//   of the UTF-8 index keys). `= NULL` holds for missing and null values.
// - A field holding an array matches when any element matches (`tags = 'work'`).
// - Sorting is total: missing/null < booleans < numbers < strings < arrays/objects (by their JSON text).
import type { Scalar } from './ast.js';
import type { Clock } from './bounds.js';

/** Code-point order of two strings (UTF-16 order differs for characters beyond the BMP). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  // a long common prefix is skipped a block at a time with native comparisons (the loop below goes per character)
  for (let block = 64; i + block <= n && a.slice(i, i + block) === b.slice(i, i + block); block = Math.min(block * 2, 4096)) i += block;
  for (; i < n; i++) {
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
      return compareText(a instanceof JsonKey ? a.json : JSON.stringify(a), b instanceof JsonKey ? b.json : JSON.stringify(b));
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

/** A compiled LIKE pattern (see likeMatcher). */
export interface LikeMatcher {
  /** True when the whole of `text` matches; false as well once `clock` says the query is out of time. */
  test(text: string, clock?: Clock): boolean;
}

/** Pattern items between two `%`: a literal run of UTF-16 code units, or a number of `_` (code points). */
type LikeItem = string | number;

/** Longest needle given to String.indexOf, and the text window one call searches (bounds the work between ticks). */
const NEEDLE_MAX = 64;
const FIND_WINDOW = 16 * 1024;

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * LIKE without backtracking: `%` any run (including none and newlines), `_` exactly one code point (a surrogate pair
 * is one), `\` escapes the next character (a trailing one is itself), anchored at both ends, case-sensitive.
 *
 * The pattern splits at `%` into segments of literals and `_`; each matches a fixed number of code points. The first
 * segment must match at the start, the last one at the end, and the middle ones are placed leftmost-first between
 * them (String.indexOf finds the candidates of a segment's first literal): the leftmost placement of a fixed-length
 * segment ends earliest, so it never loses a match that a later placement would find. Worst case O(text x pattern),
 * never exponential; the work is counted on `clock`, so a huge text cannot outlast the query's time bound.
 *
 * Positions are UTF-16 offsets that always lie on code-point boundaries (never inside a surrogate pair), which makes
 * matching code units the same as matching code points (the RegExp with the `u` flag this replaces worked that way).
 */
export function likeMatcher(pattern: string): LikeMatcher {
  const segments: LikeItem[][] = [];
  let items: LikeItem[] = [];
  let lit = '';
  const flush = () => {
    if (lit) items.push(lit);
    lit = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) lit += pattern[++i]!;
    else if (c === '%') {
      flush();
      segments.push(items);
      items = [];
    } else if (c === '_') {
      flush();
      const last = items[items.length - 1];
      if (typeof last === 'number') items[items.length - 1] = last + 1;
      else items.push(1);
    } else lit += c;
  }
  flush();
  segments.push(items);
  return { test: (text, clock) => likeTest(segments, text, clock) };
}

function likeTest(segments: readonly LikeItem[][], t: string, clock: Clock | undefined): boolean {
  const n = t.length;
  const boundary = (p: number) => p <= 0 || p >= n || !(isHigh(t.charCodeAt(p - 1)) && isLow(t.charCodeAt(p)));
  const next = (p: number) => p + (p + 1 < n && isHigh(t.charCodeAt(p)) && isLow(t.charCodeAt(p + 1)) ? 2 : 1);
  const prev = (p: number) => p - (p >= 2 && isLow(t.charCodeAt(p - 1)) && isHigh(t.charCodeAt(p - 2)) ? 2 : 1);
  let late = false;
  const tick = (units: number) => {
    if (clock && !clock.tick(units)) late = true;
    return !late;
  };
  /** End of `seg` matched from boundary `p`, within [p, limit], or -1. */
  const forward = (seg: readonly LikeItem[], p: number, limit: number): number => {
    for (const it of seg) {
      if (typeof it === 'string') {
        if (p + it.length > limit || !t.startsWith(it, p) || !boundary(p + it.length)) return -1;
        p += it.length;
      } else {
        for (let k = 0; k < it; k++) {
          if (p >= limit) return -1;
          p = next(p);
        }
      }
    }
    return p;
  };
  /** Start of `seg` matched so that it ends at boundary `p`, within [lower, p], or -1. */
  const backward = (seg: readonly LikeItem[], p: number, lower: number): number => {
    for (let i = seg.length - 1; i >= 0; i--) {
      const it = seg[i]!;
      if (typeof it === 'string') {
        const s = p - it.length;
        if (s < lower || !t.startsWith(it, s) || !boundary(s)) return -1;
        p = s;
      } else {
        for (let k = 0; k < it; k++) {
          if (p <= lower) return -1;
          p = prev(p);
        }
      }
    }
    return p;
  };
  /** First q >= s where `needle` occurs (q + needle.length <= limit), or -1; searched a window at a time. */
  const find = (needle: string, s: number, limit: number): number => {
    while (s + needle.length <= limit) {
      const end = Math.min(limit, s + FIND_WINDOW + needle.length - 1);
      const q = end === n ? t.indexOf(needle, s) : t.slice(s, end).indexOf(needle);
      if (!tick(end - s)) return -1;
      if (q >= 0) return end === n ? q : s + q;
      s += FIND_WINDOW;
    }
    return -1;
  };
  /** End of the leftmost match of `seg` starting at or after boundary `from` and ending by `limit`, or -1. */
  const leftmost = (seg: readonly LikeItem[], from: number, limit: number): number => {
    // candidates come from the segment's longest literal (the last of equal ones), found with String.indexOf on at
    // most NEEDLE_MAX of its characters (indexOf is not linear in a long needle); each candidate is then verified
    let j = -1;
    for (let i = 0; i < seg.length; i++) {
      const it = seg[i]!;
      if (typeof it === 'string' && (j < 0 || it.length >= (seg[j] as string).length)) j = i;
    }
    if (j < 0) return forward(seg, from, limit);
    const needle = (seg[j] as string).slice(0, NEEDLE_MAX);
    let cost = 8;
    for (const it of seg) cost += typeof it === 'string' ? it.length : it;
    candidates: for (let s = from; ; ) {
      const q = find(needle, s, limit);
      if (q < 0) return -1;
      s = q + 1;
      if (!tick(cost)) return -1;
      if (!boundary(q)) continue;
      // the segment's start: back over the items before the literal (literals by their length, _ by code points)
      let p = q;
      for (let i = j - 1; i >= 0; i--) {
        const it = seg[i]!;
        if (typeof it === 'string') {
          p -= it.length;
          if (p < from) continue candidates;
        } else {
          for (let k = 0; k < it; k++) {
            if (p <= from) continue candidates;
            p = prev(p);
          }
        }
      }
      if (!boundary(p)) continue;
      const end = forward(seg, p, limit);
      if (end >= 0) return end;
    }
  };

  if (!tick(1)) return false;
  const first = segments[0]!;
  if (segments.length === 1) return forward(first, 0, n) === n;
  const start = forward(first, 0, n);
  if (start < 0) return false;
  const tail = backward(segments[segments.length - 1]!, n, start);
  if (tail < 0) return false;
  let at = start;
  for (let i = 1; i < segments.length - 1; i++) {
    const seg = segments[i]!;
    if (seg.length === 0) continue;
    at = leftmost(seg, at, tail);
    if (at < 0) return false;
  }
  return !late;
}

/** A sort key holding the JSON text of an array or object (computed once, not per comparison). */
export class JsonKey {
  constructor(readonly json: string) {}
}

/** What compareValues sorts by for `v`: the value itself, or its JSON text for arrays and objects. */
export function sortKey(v: unknown): unknown {
  return v !== null && typeof v === 'object' && !(v instanceof JsonKey) ? new JsonKey(JSON.stringify(v)) : v;
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

// Plain-text tables for the commands' answers: rows as columns (the rows' keys, in the order first seen) and one
// record as `name  value` lines. A value is one line (newlines and tabs become spaces), objects and arrays are
// compact JSON, and anything longer than the width is cut with an ellipsis, so a long content field cannot flood
// the terminal: --json is there for the whole answer.

export const WIDTH_DEFAULT = 40;
export const WIDTH_MIN = 4;
export const WIDTH_MAX = 10_000;

/** One cell's text: strings as they are, null as `null`, a missing key as empty, anything else as JSON. */
export function cellText(value: unknown, width: number): string {
  let s: string;
  if (value === undefined) s = '';
  else if (typeof value === 'string') s = value;
  else s = JSON.stringify(value) ?? String(value);
  s = s.replace(/[\r\n\t]+/g, ' ');
  const chars = [...s]; // code points: never cut a surrogate pair in two
  return chars.length > width ? chars.slice(0, width - 1).join('') + '…' : s;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The lines of a table of `rows`: a header, a rule, a line per row. A row that is not an object is shown in a
 * single column `value`. The record of a search hit (`record: {...}`) is opened one level (`record.uri`), as that is
 * where its fields are; other nested objects stay JSON.
 */
export function tableLines(rows: readonly unknown[], width: number): string[] {
  const flat = rows.map((r) => {
    if (!isPlainObject(r)) return { value: r } as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (k === 'record' && isPlainObject(v)) for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2;
      else out[k] = v;
    }
    return out;
  });
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const r of flat) {
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const cells = flat.map((r) => columns.map((c) => cellText(Object.hasOwn(r, c) ? r[c] : undefined, width)));
  const header = columns.map((c) => cellText(c, width));
  const widths = columns.map((_, i) => Math.max(len(header[i]!), ...cells.map((row) => len(row[i]!))));
  const line = (row: string[]) => row.map((c, i) => (i === row.length - 1 ? c : pad(c, widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
}

/** `name  value` lines of one record; nested objects are opened one level (`counts.resources`). */
export function recordLines(record: Record<string, unknown>, width: number, first: readonly string[] = []): string[] {
  const keys = [...first.filter((k) => Object.hasOwn(record, k)), ...Object.keys(record).filter((k) => !first.includes(k))];
  const pairs: [string, unknown][] = [];
  for (const k of keys) {
    const v = record[k];
    if (isPlainObject(v) && Object.keys(v).length > 0) for (const [k2, v2] of Object.entries(v)) pairs.push([`${k}.${k2}`, v2]);
    else pairs.push([k, v]);
  }
  const w = Math.max(...pairs.map(([k]) => len(k)));
  return pairs.map(([k, v]) => `${pad(k, w)}  ${cellText(v, width)}`.trimEnd());
}

const len = (s: string) => [...s].length;
const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - len(s)));

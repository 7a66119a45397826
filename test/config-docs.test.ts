// The README's configuration tables, checked against the code: every environment variable the code reads is in a
// table, every variable a table documents is read somewhere, and where the code states a literal default (intFrom,
// boolFrom and the other `(env, 'NAME', default)` readers, `env.NAME || 'default'`) the table shows that default.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBRARY_VARIABLES, ROOT, scanEnvReads } from './support/env-reads.js';

/** Read by the code but not ours to document: the operating system's. */
const SYSTEM_VARIABLES = new Set(['PATH']);
/** Read by the code but only ever set by it: bench/peers.ts tells its child processes about --quick. */
const INTERNAL_VARIABLES = new Set(['PERCOLATE_PEERS_QUICK']);
/** Every variable read in shared/, services/, scripts/ and bench/ (test/support/env-reads.ts). */
const scanCode = () => scanEnvReads();

interface Row {
  line: number;
  /** Variables named in the first cell. */
  names: string[];
  /** Backticked values of the default (second) cell. */
  defaults: string[];
  /** Every backticked variable-like name anywhere in the row. */
  mentions: string[];
}

/** Rows of the README's configuration tables: every table whose header starts with `| variable |`. */
function readmeRows(): Row[] {
  const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const cells = (l: string) => l.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim());
  const ticks = (c: string) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const isName = (s: string) => /^[A-Z][A-Z0-9_]*$/.test(s);
  const rows: Row[] = [];
  let inConfig = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!l.startsWith('|')) {
      inConfig = false;
      continue;
    }
    const prev = lines[i - 1] ?? '';
    if (!prev.startsWith('|')) {
      inConfig = cells(l)[0] === 'variable'; // a header row
      continue;
    }
    if (!inConfig || /^\|[-:| ]+\|$/.test(l.trim())) continue;
    const c = cells(l);
    rows.push({ line: i + 1, names: ticks(c[0] ?? '').filter(isName), defaults: ticks(c[1] ?? ''), mentions: c.flatMap(ticks).filter(isName) });
  }
  return rows;
}

describe('README configuration tables', () => {
  const { reads, defaults } = scanCode();
  const rows = readmeRows();

  it('finds the tables and the variables', () => {
    expect(rows.length).toBeGreaterThan(60);
    expect(reads.size).toBeGreaterThan(80);
    expect(reads.get('PERCOLATE_HTTP_CONNECTIONS_MAX')).toBeDefined(); // through intFrom in shared/config/http-config.ts
    expect(reads.get('PERCOLATE_GATEWAY_PORT')).toBeDefined(); // through serviceBase(env, 'NAME', ...)
    expect(defaults.get('PERCOLATE_BODY_BYTES_MAX')).toEqual(new Set(['16777216'])); // 16 * 1024 * 1024
  });

  it('document every environment variable the code reads', () => {
    const documented = new Set(rows.flatMap((r) => r.mentions));
    const undocumented = [...reads]
      .filter(([name]) => !documented.has(name) && !SYSTEM_VARIABLES.has(name) && !INTERNAL_VARIABLES.has(name))
      .map(([name, files]) => `${name} (read in ${[...files].join(', ')})`);
    expect(undocumented).toEqual([]);
  });

  it('document only variables that something reads', () => {
    const unread = rows.flatMap((r) => r.names.filter((n) => !reads.has(n) && !LIBRARY_VARIABLES.has(n)).map((n) => `${n} (README.md:${r.line})`));
    expect(unread).toEqual([]);
  });

  it('give the defaults the code gives', () => {
    const wrong: string[] = [];
    for (const [name, values] of defaults) {
      // a variable may have a row per service (PERCOLATE_NATS_URL: the node's and the ingest services')
      const named = rows.filter((r) => r.names.includes(name));
      if (named.length === 0) continue; // reported by the test above
      // a row naming several variables lists their defaults in the same order (`16`, `100`, `64`)
      const shown = (r: Row) => (r.names.length > 1 && r.defaults.length === r.names.length ? [r.defaults[r.names.indexOf(name)]!] : r.defaults);
      for (const v of values) {
        if (v === '') continue; // unset: the tables say what that means in words, "(empty: standalone)"
        if (!named.some((r) => shown(r).includes(v))) {
          wrong.push(`${name}: the code's default is ${v}, README.md:${named.map((r) => `${r.line} says ${r.defaults.map((d) => `\`${d}\``).join(', ') || 'nothing'}`).join('; ')}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

// The README's configuration tables, checked against the code: every environment variable the code reads is in a
// table, every variable a table documents is read somewhere, and where the code states a literal default (intFrom,
// boolFrom and the other `(env, 'NAME', default)` readers, `env.NAME || 'default'`) the table shows that default.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** Where variables are read: the engine, the services, the scripts (npm start, s3rver) and the benchmarks. */
const SOURCE_DIRS = ['shared', 'services', 'scripts', 'bench'];
/** Read by the code but not ours to document: the operating system's. */
const SYSTEM_VARIABLES = new Set(['PATH']);
/** Read by the code but only ever set by it: bench/peers.ts tells its child processes about --quick. */
const INTERNAL_VARIABLES = new Set(['PERCOLATE_PEERS_QUICK']);
/** Documented, and read by a library rather than by our code: the AWS SDK's credential chain. */
const LIBRARY_VARIABLES = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']);

const NAME = '([A-Z][A-Z0-9_]*)';
const Q = `['"\`]`;
/** The ways the code reads a variable (process.env.NAME included in the first). */
const READS = [
  new RegExp(`\\benv\\.${NAME}\\b`, 'g'),
  new RegExp(`\\benv\\[\\s*${Q}${NAME}${Q}\\s*\\]`, 'g'),
  // intFrom(env, 'NAME', ...), boolFrom(env, 'NAME', ...), and helpers of the same shape (tierFrom, serviceBase, port)
  new RegExp(`\\b\\w+\\(\\s*env\\s*,\\s*${Q}${NAME}${Q}`, 'g'),
];
/** A literal default: `reader(env, 'NAME', <number expression | true | false | 'text'>` or `env.NAME || 'text'`. */
const DEFAULTS = [
  new RegExp(`\\b\\w+\\(\\s*env\\s*,\\s*${Q}${NAME}${Q}\\s*,\\s*([0-9_ *+()-]+?|true|false|'[^']*')\\s*[,)]`, 'g'),
  new RegExp(`\\benv\\.${NAME}\\s*(?:\\|\\||\\?\\?)\\s*('[^']*')`, 'g'),
];

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'results') walk(p);
      } else if (/\.(ts|mts|js|mjs|cjs)$/.test(e.name)) out.push(p);
    }
  };
  for (const d of SOURCE_DIRS) walk(path.join(ROOT, d));
  return out;
}

/** Every variable read, with the files that read it, and the literal defaults the code gives. */
function scanCode(): { reads: Map<string, Set<string>>; defaults: Map<string, Set<string>> } {
  const reads = new Map<string, Set<string>>();
  const defaults = new Map<string, Set<string>>();
  for (const file of sourceFiles()) {
    const text = fs.readFileSync(file, 'utf8');
    const rel = path.relative(ROOT, file);
    for (const re of READS) for (const m of text.matchAll(re)) (reads.get(m[1]!) ?? reads.set(m[1]!, new Set()).get(m[1]!)!).add(rel);
    for (const re of DEFAULTS) {
      for (const m of text.matchAll(re)) {
        const raw = m[2]!.trim();
        let value: string;
        if (raw.startsWith("'")) value = raw.slice(1, -1);
        else if (raw === 'true' || raw === 'false') value = raw;
        // digits and arithmetic only (the character class above), so evaluating it runs no code of the file
        else value = String(Function(`"use strict"; return (${raw.replace(/_/g, '')});`)());
        (defaults.get(m[1]!) ?? defaults.set(m[1]!, new Set()).get(m[1]!)!).add(value);
      }
    }
  }
  return { reads, defaults };
}

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

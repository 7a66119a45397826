// Shared helpers for benchmarks: machine description, markdown tables, percentiles, argument parsing, result files.
// Benchmarks print a markdown table to stdout (progress goes to stderr) and write bench/results/<name>.{json,md}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readArgs } from '../scripts/cli-args.js';

/** bench/results, or PERCOLATE_BENCH_RESULTS_DIR (the CI smoke test writes to a temporary directory). */
export const RESULTS_DIR = process.env.PERCOLATE_BENCH_RESULTS_DIR || path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_gib: number;
  node: string;
  platform: string;
  /** 1/5/15-minute load averages when measured: anything well above 0 on a small machine means noisy numbers. */
  loadavg: number[];
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
  };
}

export type Cell = string | number | null | undefined;

function formatCell(c: Cell): string {
  if (c === null || c === undefined) return '—';
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) return String(c);
    if (Number.isInteger(c)) return String(c);
    const a = Math.abs(c);
    return c.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  }
  return c.replace(/\|/g, '\\|');
}

/** A GitHub-flavoured markdown table; numeric columns are right-aligned. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = rows.map((r) => headers.map((_, i) => formatCell(r[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] == null));
  const widths = headers.map((h, i) => Math.max(h.length, 3, ...cells.map((r) => r[i]!.length)));
  const line = (vals: readonly string[]) =>
    '| ' + vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (numeric[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|';
  return [line(headers), rule, ...cells.map(line)].join('\n');
}

/** Nearest-rank percentile (p in [0, 100]); sorts a copy, so the input may be in any order. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1]!;
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length ? s / values.length : NaN;
}

export interface BenchArgs {
  quick: boolean;
  count?: number;
  queries?: number;
}

/** `--quick`, `--count N` (or `--count=N`), `--queries N` (node:util parseArgs). Unknown arguments are an error. */
export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const args: BenchArgs = { quick: false };
  const unknown = (raw: string) => new Error(`unknown argument '${raw}' (expected --quick, --count N, --queries N)`);
  const int = (name: string, raw: string | undefined): number => {
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer, got '${raw ?? ''}'`);
    return n;
  };
  const given = readArgs(argv, { quick: { type: 'boolean' }, count: { type: 'string' }, queries: { type: 'string' } }, unknown);
  for (const a of given) {
    if (a.kind === 'positional') throw unknown(a.raw);
    if (a.name === 'quick') args.quick = true;
    else if (a.name === 'count') args.count = int('count', a.value);
    else args.queries = int('queries', a.value);
  }
  return args;
}

/** Progress line on stderr with seconds since start, so long runs show life without polluting the table. */
const started = performance.now();
export function log(msg: string): void {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

export interface BenchResults {
  meta: Record<string, unknown>;
  rows: readonly object[];
  /** Markdown (one or more tables with headings). */
  table: string;
}

/** Writes bench/results/<name>.json and <name>.md and prints the table; returns the JSON path. */
export function writeResults(name: string, results: BenchResults): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, ...results }, null, 2) + '\n');
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.md`), results.table.trimEnd() + '\n');
  process.stdout.write(results.table.trimEnd() + '\n');
  return file;
}

// Runs every benchmark (each `bench:<name>` script in package.json) one after another as child processes, then writes
// one combined report: bench/results/summary.{md,json} (summary-quick.* with --quick), with the machine and each
// benchmark's own markdown (read from bench/results/<name>[-quick].md, which each benchmark writes).
//
//   npm run bench                      # full sizes (tens of minutes; bench:peers alone is about 15)
//   npm run bench -- --quick           # every benchmark's quick mode (about two minutes)
//   npm run bench -- --quick --smoke   # tiny sizes on top of --quick (about a minute; what the CI smoke test runs)
//   npm run bench -- --quick --only search,peers
//   npm run bench -- --collect         # run nothing: rebuild the summary from the latest results already written
//
// A failing benchmark does not stop the others; it is marked in the summary and the exit code is 1. No thresholds are
// enforced here: benchmarks report PASS/MISS in their own tables. Quiet machines make better numbers: the summary
// records the load average before and after each benchmark.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readArgs } from '../scripts/cli-args.js';
import { RESULTS_DIR, log, machineInfo } from './report.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Extra arguments per benchmark in smoke mode (on top of --quick): the smallest sizes that still exercise every path. */
const SMOKE_ARGS: Record<string, string[]> = {
  search: ['--count', '1000', '--queries', '20'],
  query: ['--count', '2000', '--queries', '50'],
  replication: ['--count', '500'],
  ingest: ['--count', '32'],
  peers: ['--count', '1000', '--queries', '20'],
  isolation: ['--count', '40', '--queries', '40'],
  tenants: ['--count', '300', '--tenants', '100', '--opens', '5', '--restores', '2'],
  'scale-sim': ['--tenants', '5000', '--hours', '1', '--nodes', '3,10'],
};
/** Preferred order (cheap and self-contained first); benchmarks not listed run after these, alphabetically. */
const ORDER = ['scale-sim', 'search', 'query', 'replication', 'ingest', 'isolation', 'tenants', 'peers'];

export interface Options {
  quick: boolean;
  smoke: boolean;
  collect: boolean;
  only?: string[];
}

/** `--quick`, `--smoke`, `--collect`, `--only a,b` (node:util parseArgs). Unknown arguments are an error. */
export function parseOptions(argv: readonly string[]): Options {
  const o: Options = { quick: false, smoke: false, collect: false };
  const unknown = (raw: string) => new Error(`unknown argument '${raw}' (expected --quick, --smoke, --collect, --only a,b)`);
  const options = { quick: { type: 'boolean' }, smoke: { type: 'boolean' }, collect: { type: 'boolean' }, only: { type: 'string' } } as const;
  for (const a of readArgs(argv, options, unknown)) {
    if (a.kind === 'positional') throw unknown(a.raw);
    if (a.name === 'quick') o.quick = true;
    else if (a.name === 'smoke') o.smoke = o.quick = true;
    else if (a.name === 'only') o.only = (a.value ?? '').split(',').filter(Boolean);
    else o.collect = true;
  }
  return o;
}

/** The benchmarks that exist: every `bench:<name>` script. */
function benchmarks(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const names = Object.keys(pkg.scripts)
    .filter((s) => s.startsWith('bench:'))
    .map((s) => s.slice('bench:'.length));
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

interface BenchRun {
  name: string;
  args: string[];
  exit_code: number | null;
  seconds: number;
  loadavg_before: number[];
  loadavg_after: number[];
  /** The benchmark's own markdown (its <name>[-quick].md), or null when it wrote none. */
  table: string | null;
  /** When the table was written (its file's modification time). */
  written: string | null;
  results_file: string | null;
}

const load = () => os.loadavg().map((l) => Math.round(l * 100) / 100);

function run(name: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    // npm resolves the script as package.json has it; its output (tables and progress) goes to our stderr
    const child = spawn('npm', ['run', '--silent', `bench:${name}`, '--', ...args], { cwd: ROOT, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const all = benchmarks();
  for (const n of opts.only ?? []) if (!all.includes(n)) throw new Error(`--only: no script bench:${n} (have: ${all.join(', ')})`);
  const names = opts.only ? all.filter((n) => opts.only!.includes(n)) : all;
  const machine = machineInfo();
  const suffix = opts.quick ? '-quick' : '';
  const mode = (opts.smoke ? 'smoke' : opts.quick ? 'quick' : 'full') + (opts.collect ? ', collected' : '');
  log(`running ${names.length} benchmarks (${mode}): ${names.join(', ')}; results in ${RESULTS_DIR}`);
  const started = performance.now();
  const runs: BenchRun[] = [];
  for (const name of names) {
    const args = [...(opts.quick ? ['--quick'] : []), ...(opts.smoke ? (SMOKE_ARGS[name] ?? []) : [])];
    const mdFile = path.join(RESULTS_DIR, `${name}${suffix}.md`);
    const jsonFile = path.join(RESULTS_DIR, `${name}${suffix}.json`);
    if (!opts.collect) fs.rmSync(mdFile, { force: true }); // a stale table must not pass for this run's
    log(`bench:${name} ${args.join(' ')}${opts.collect ? ' (collecting earlier results)' : ''}`);
    const loadBefore = load();
    const t0 = performance.now();
    const code = opts.collect ? 0 : await run(name, args);
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    const table = fs.existsSync(mdFile) ? fs.readFileSync(mdFile, 'utf8').trimEnd() : null;
    runs.push({
      name,
      args,
      exit_code: code,
      seconds,
      loadavg_before: loadBefore,
      loadavg_after: load(),
      table,
      written: table === null ? null : fs.statSync(mdFile).mtime.toISOString(),
      results_file: fs.existsSync(jsonFile) ? path.relative(ROOT, jsonFile) : null,
    });
    log(`bench:${name} ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${seconds}s`);
  }
  const totalSeconds = Math.round((performance.now() - started) / 100) / 10;
  const failed = runs.filter((r) => r.exit_code !== 0 || r.table === null);

  const reproduce = `npm install && npm run bench${opts.quick ? ' -- --quick' : ''}${opts.smoke ? ' --smoke' : ''}`;
  const md = [
    `# Benchmark summary (${mode})`,
    '',
    `${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Node ${machine.node}, ${machine.platform}. ` +
      (opts.collect
        ? `Collected ${machine.date}.`
        : `Run ${machine.date}, ${totalSeconds}s in all; load average ${machine.loadavg.join(' / ')} at start.`) +
      (opts.quick ? ' **Quick mode: small sizes, for checking that the benchmarks run, not for their numbers.**' : ''),
    '',
    `Reproduce: \`${reproduce}\` (each benchmark alone: \`npm run bench:<name>\`; see the header of bench/<name>.ts).`,
    '',
    ...(opts.collect
      ? [`Collected from results written earlier (\`--collect\`): each benchmark's own header has its run's date and load.`, '']
      : []),
    '| benchmark | arguments | seconds | load avg before → after | written | result |',
    '|---|---|--:|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.name} | ${r.args.join(' ') || '—'} | ${opts.collect ? '—' : r.seconds} | ` +
        `${opts.collect ? '—' : `${r.loadavg_before[0]} → ${r.loadavg_after[0]}`} | ${r.written ?? '—'} | ` +
        `${r.exit_code === 0 && r.table !== null ? 'ok' : r.table === null ? `no table (exit ${r.exit_code})` : `exit ${r.exit_code}`} |`,
    ),
    '',
    // benchmarks' own headings start at level 1: push them two levels down, under this summary's level-2 sections
    ...runs.flatMap((r) => [`## bench:${r.name}`, '', r.table === null ? '_No results: the benchmark failed._' : demote(r.table), '']),
  ].join('\n');
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `summary${suffix}.md`), md.trimEnd() + '\n');
  fs.writeFileSync(
    path.join(RESULTS_DIR, `summary${suffix}.json`),
    JSON.stringify({ mode, machine, total_seconds: totalSeconds, reproduce, benchmarks: runs }, null, 2) + '\n',
  );
  log(`wrote ${path.join(RESULTS_DIR, `summary${suffix}.md`)} (${totalSeconds}s${failed.length ? `; FAILED: ${failed.map((r) => r.name).join(', ')}` : ''})`);
  if (failed.length) process.exitCode = 1;
}

/** Pushes every markdown heading down two levels (to at most 6), outside fenced code. */
function demote(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      const m = /^(#{1,6}) /.exec(line);
      if (fenced || !m) return line;
      return '#'.repeat(Math.min(6, m[1]!.length + 2)) + line.slice(m[1]!.length);
    })
    .join('\n');
}

// run when started as a program (npm run bench), not when a test imports parseOptions
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

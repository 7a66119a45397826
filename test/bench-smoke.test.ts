// Benchmarks cannot rot: every `bench:<name>` script runs at tiny sizes (`npm run bench -- --quick --smoke`, no
// thresholds) and the combined summary has a table for each. Results go to a temporary directory, not bench/results.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { tempDir } from './support/tmp.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

it('runs every benchmark in smoke mode and writes one summary with a table per benchmark', { timeout: 300_000 }, async () => {
  const { dir, cleanup } = await tempDir('percolate-bench-smoke-');
  cleanups.push(cleanup);
  const benches = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)
    .filter((s) => s.startsWith('bench:'))
    .map((s) => s.slice('bench:'.length));
  expect(benches).toEqual(expect.arrayContaining(['search', 'query', 'replication', 'ingest', 'peers']));

  let output = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bench/all.ts', '--quick', '--smoke'], {
      cwd: ROOT,
      env: { ...process.env, PERCOLATE_BENCH_RESULTS_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => (output = (output + b.toString()).slice(-20_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', resolve);
  });
  expect(code, `bench/all.ts --quick --smoke failed; last output:\n${output}`).toBe(0);

  const md = fs.readFileSync(path.join(dir, 'summary-quick.md'), 'utf8');
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary-quick.json'), 'utf8')) as {
    machine: { cpu: string; cores: number; node: string; date: string; loadavg: number[] };
    benchmarks: { name: string; exit_code: number; table: string | null }[];
  };
  expect(summary.machine.cores).toBeGreaterThan(0);
  expect(summary.machine.node).toBe(process.version);
  expect(summary.machine.loadavg).toHaveLength(3);
  expect(summary.benchmarks.map((b) => b.name).sort()).toEqual([...benches].sort());
  for (const name of benches) {
    const b = summary.benchmarks.find((x) => x.name === name)!;
    expect(b.exit_code, name).toBe(0);
    expect(b.table, name).toMatch(/^\|[-:|]+\|$/m); // a markdown table's rule line
    const section = md.split(/^## /m).find((s) => s.startsWith(`bench:${name}\n`));
    expect(section, `summary section for bench:${name}`).toMatch(/^\|[-:|]+\|$/m);
  }
});

// Peers benchmark: our store against raw hnswlib-node, LanceDB, PGlite + pgvector and Orama, on the same data, in one run.
//
//   npm run bench:peers                  # 100k vectors (384-dim, clustered), 500 queries (about 15 minutes)
//   npm run bench:peers -- --count 10000 # the 10k size (writes bench/results/peers-10k.{json,md})
//   npm run bench:peers -- --quick       # 2k vectors, 50 queries (under a minute; what `npm run bench -- --quick` runs)
//   PERCOLATE_PEERS=ours,lancedb npm run bench:peers -- --quick   # a subset (ours is always included)
//
// Every engine runs in its own child process (bench/lib/peer-child.ts) so that its memory is its own: RSS is measured
// after the shared data is loaded (baseline), after the build, and at its high-water mark. Builds run one engine at a
// time. Queries run one at a time (k=10); the passes of all engines are interleaved, repetition by repetition, so that
// load from other work on the machine falls on every engine alike. Each engine sweeps its speed/recall knob (HNSW ef,
// pgvector's hnsw.ef_search, LanceDB's ef and refine factor; Orama scans every vector and only has a similarity
// threshold) and the table reports the fastest setting that reaches recall@10 >= 0.95 and >= 0.99 against exact
// (brute-force) neighbours. Keyword search (BM25 and friends) runs on the same texts for the engines that have it;
// BM25 variants have no common ground truth, so we report overlap@10 with our results rather than a recall. Every
// number is also given as a ratio to our store in the same run.
// Progress goes to stderr; the markdown goes to stdout and bench/results/peers.{json,md} (peers-quick with --quick).
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDataset, recallAtK } from './dataset.js';
import { combine, fmtRatio, groundTruth, r3, roundStats, textQueries, type LatencyStats, type Pass } from './lib/stats.js';
import {
  DATA_FILES,
  ENGINE_IDS,
  HNSW,
  type BuildResult,
  type ChildReady,
  type ChildRequestBody,
  type ChildResponse,
  type EngineId,
  type FinishResult,
  type PassResult,
  type Setting,
} from './lib/peer-engines.js';
import { log, machineInfo, markdownTable, parseArgs, percentile, writeResults, type Cell } from './report.js';
import { cpuSeconds } from '../test/support/proc.js';
import { sleep } from '../test/support/wait.js';

const K = 10;
const SEED = 20240611;
const TARGETS = [0.95, 0.99] as const;
/** Our QPS at recall >= 0.95 must be at least this fraction of raw hnswlib's (and at least every peer's). */
const HNSWLIB_RATIO_MIN = 0.67;

const args = parseArgs();
const N = args.count ?? (args.quick ? 2_000 : 100_000);
const Q = args.queries ?? (args.quick ? 50 : 500);
/** Timed passes per setting (QPS is their median, so a pass disturbed by other work on the machine barely counts). */
const REPS = args.quick ? 1 : 3;
/** Orama scans every vector per query (over 200 ms at 100k): past this size it gets fewer queries and passes (said in
 * the report). */
const BRUTE_FORCE_QUERIES = N >= 50_000 ? Math.min(Q, 100) : Q;
const BRUTE_FORCE_REPS = N >= 50_000 ? Math.min(REPS, 3) : REPS;
const queriesFor = (id: EngineId) => (id === 'orama' ? BRUTE_FORCE_QUERIES : Q);
const repsFor = (id: EngineId) => (id === 'orama' ? BRUTE_FORCE_REPS : REPS);
/** Keyword queries (the same for every engine, for overlap): at 100k PGlite's ts_rank takes ~150 ms a query and Orama's
 * prefix-matching BM25 ~600 ms, so past 50k there are fewer of them, in one pass. */
const QK = N >= 50_000 ? Math.min(Q, 100) : Q;
const KEYWORD_REPS = N >= 50_000 ? 1 : REPS;

const selected = (process.env.PERCOLATE_PEERS ?? ENGINE_IDS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const s of selected) if (!ENGINE_IDS.includes(s as EngineId)) throw new Error(`PERCOLATE_PEERS: unknown engine '${s}' (known: ${ENGINE_IDS.join(', ')})`);
const ENGINES_RUN = ENGINE_IDS.filter((id) => id === 'ours' || selected.includes(id));

const MiB = 2 ** 20;
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'peer-child.ts');

// ------------------------------------------------------------------------------------------------------- children

/** An engine in its child process: request/response over IPC, one request at a time. */
class EngineProcess {
  readonly proc: ChildProcess;
  readonly ready: Promise<ChildReady>;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited?: Error;

  constructor(readonly id: EngineId, dataDir: string, workDir: string) {
    this.proc = fork(CHILD, [dataDir, workDir, id], {
      execArgv: [...process.execArgv, '--expose-gc'],
      // the child's stdout would land in our markdown: send it to stderr with the progress lines
      stdio: ['ignore', 2, 2, 'ipc'],
      env: { ...process.env, PERCOLATE_PEERS_QUICK: args.quick ? '1' : '0' },
    });
    this.ready = new Promise((resolve, reject) => {
      this.proc.on('message', (m: ChildReady | ChildResponse) => {
        if ('ready' in m) return resolve(m);
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`${id}: ${m.error}`));
      });
      this.proc.on('exit', (code, signal) => {
        this.exited = new Error(`${id} child exited (code ${code}, signal ${signal})`);
        reject(this.exited);
        for (const p of this.pending.values()) p.reject(this.exited);
        this.pending.clear();
      });
    });
    this.ready.catch(() => undefined);
  }

  request<T>(req: ChildRequestBody): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ ...req, id });
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------- state

interface EngineRun {
  id: EngineId;
  proc: EngineProcess;
  ready: ChildReady;
  build: BuildResult;
  /** Seconds the child kept using CPU after its build returned (LevelDB compaction, index files being written...). */
  settleSeconds: number;
  queries: number;
  /** Passes per setting label. */
  passes: Map<string, Pass[]>;
  keywordPasses: Pass[];
  keywordIds?: number[][];
  finish?: FinishResult;
}

interface SweepPoint {
  setting: Setting;
  stats: LatencyStats;
}

/** Latency percentiles over all passes; QPS is the median of the passes' (one pass disturbed by other work on the
 * machine moves it less than a pooled wall time would). */
function passStats(passes: readonly Pass[]): LatencyStats {
  return { ...combine(passes), qps: percentile(passes.map((p) => (p.lat.length / p.wallMs) * 1000), 50) };
}

function sweep(run: EngineRun): SweepPoint[] {
  return run.ready.settings.map((setting) => ({ setting, stats: passStats(run.passes.get(setting.label)!) }));
}

/** Waits until the process has used under 2% of a core for two seconds (at most `maxSeconds`); returns the wait. */
async function settle(pid: number, maxSeconds = 180): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  let last = cpuSeconds(pid);
  while ((performance.now() - t0) / 1000 < maxSeconds) {
    await sleep(500);
    const now = cpuSeconds(pid);
    quiet = now - last < 0.01 ? quiet + 1 : 0;
    last = now;
    if (quiet >= 4) break;
  }
  return (performance.now() - t0) / 1000 - quiet * 0.5;
}

/** The fastest setting (highest QPS) whose recall reaches the target, or undefined. */
function atRecall(points: readonly SweepPoint[], target: number): SweepPoint | undefined {
  return points.filter((p) => p.stats.recall >= target).reduce<SweepPoint | undefined>((a, b) => (!a || b.stats.qps > a.stats.qps ? b : a), undefined);
}

function meanRecall(ids: readonly number[][], truth: readonly number[][]): number {
  let s = 0;
  for (let i = 0; i < ids.length; i++) s += recallAtK(ids[i]!, truth[i]!);
  return s / ids.length;
}

/** |ours ∩ theirs| / |ours| per query, averaged over queries where ours returned something. */
function overlap(ours: readonly number[][], theirs: readonly number[][]): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i]!.length === 0) continue;
    const t = new Set(theirs[i]);
    s += ours[i]!.filter((x) => t.has(x)).length / ours[i]!.length;
    n++;
  }
  return n ? s / n : NaN;
}

const secs = (ms: number) => ms / 1000;
const mibOf = (b: number | null | undefined) => (b == null ? null : b / MiB);
const ratio = (x: number | null | undefined, ours: number | null | undefined) =>
  x == null || ours == null || !Number.isFinite(x) || !Number.isFinite(ours) || ours === 0 ? '—' : fmtRatio(x / ours);

// ----------------------------------------------------------------------------------------------------------- main

async function writeData(dir: string, ds: ReturnType<typeof makeDataset>): Promise<void> {
  const flat = (vs: Float32Array[]) => {
    const out = new Float32Array(vs.length * ds.dimension);
    vs.forEach((v, i) => out.set(v, i * ds.dimension));
    return Buffer.from(out.buffer);
  };
  await fs.writeFile(path.join(dir, DATA_FILES.vectors), flat(ds.vectors));
  await fs.writeFile(path.join(dir, DATA_FILES.queries), flat(ds.queries));
  await fs.writeFile(path.join(dir, DATA_FILES.texts), JSON.stringify({ dimension: ds.dimension, texts: ds.texts }));
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const runStart = performance.now();
  log(`peers benchmark: N=${N}, queries=${Q}, reps=${REPS}, engines ${ENGINES_RUN.join(', ')}${args.quick ? ' (quick)' : ''} on ${machine.cpu} x${machine.cores}, load ${machine.loadavg.join(' ')}`);

  let t0 = performance.now();
  const ds = makeDataset({ count: N, queries: Q, seed: SEED });
  log(`dataset generated in ${secs(performance.now() - t0).toFixed(1)}s`);
  const truth = groundTruth(ds.vectors, ds.queries, K);
  const kwQueries = textQueries(ds.texts, QK, SEED + 1);

  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'percolate-bench-peers-'));
  const runs: EngineRun[] = [];
  const procs: EngineProcess[] = [];
  try {
    const dataDir = path.join(root, 'data');
    await fs.mkdir(dataDir);
    await writeData(dataDir, ds);

    // ---- build, one engine at a time; each child then stays up (idle) until the query phase is over
    for (const id of ENGINES_RUN) {
      const workDir = path.join(root, id);
      await fs.mkdir(workDir);
      const proc = new EngineProcess(id, dataDir, workDir);
      procs.push(proc);
      const ready = await proc.ready;
      log(`${ready.engine}: building (${ready.index})`);
      t0 = performance.now();
      const build = await proc.request<BuildResult>({ op: 'build' });
      log(
        `${ready.engine}: built in ${secs(performance.now() - t0).toFixed(1)}s (load ${secs(build.ingestMs).toFixed(1)}s + index ${secs(build.indexMs).toFixed(1)}s), ` +
          `RSS +${((build.rssAfterBuild - ready.baselineRss) / MiB).toFixed(0)} MiB`,
      );
      const settled = await settle(proc.proc.pid!);
      log(`${ready.engine}: background work after the build settled in ${settled.toFixed(1)}s`);
      runs.push({ id, proc, ready, build, settleSeconds: settled, queries: queriesFor(id), passes: new Map(ready.settings.map((s) => [s.label, []])), keywordPasses: [] });
    }

    // ---- vector passes, interleaved across engines setting by setting within each repetition, so that a burst of
    // other work on the machine lands on several engines rather than on one engine's whole sweep. Before each timed
    // pass a short untimed one: the engine's process sat idle while the others ran, and would pay for cold caches.
    const steps = Math.max(...runs.map((r) => r.ready.settings.length));
    for (let rep = 0; rep < REPS; rep++) {
      t0 = performance.now();
      for (let i = 0; i < steps; i++) {
        for (const run of runs) {
          const setting = run.ready.settings[i];
          if (!setting || rep >= repsFor(run.id)) continue;
          if (run.id !== 'orama') await run.proc.request<PassResult>({ op: 'vector', setting, queries: Math.min(20, run.queries), k: K });
          const r = await run.proc.request<PassResult>({ op: 'vector', setting, queries: run.queries, k: K });
          run.passes.get(setting.label)!.push({ lat: r.lat, wallMs: r.wallMs, recall: meanRecall(r.ids, truth) });
        }
      }
      log(`rep ${rep + 1}/${REPS}: every engine's sweep in ${secs(performance.now() - t0).toFixed(1)}s (load ${os.loadavg()[0]!.toFixed(2)})`);
    }

    // ---- keyword passes on the same texts
    const kwRuns = runs.filter((r) => r.ready.keyword !== null);
    // warm-up on other queries: common terms' postings get cached, the measured queries' rare terms stay cold
    const kwWarm = textQueries(ds.texts, 20, SEED + 2);
    for (const run of kwRuns) await run.proc.request<PassResult>({ op: 'keyword', texts: kwWarm, k: K });
    for (let rep = 0; rep < KEYWORD_REPS; rep++) {
      for (const run of kwRuns) {
        const r = await run.proc.request<PassResult>({ op: 'keyword', texts: kwQueries, k: K });
        run.keywordPasses.push({ lat: r.lat, wallMs: r.wallMs, recall: NaN });
        run.keywordIds ??= r.ids;
      }
      log(`rep ${rep + 1}/${KEYWORD_REPS}: keyword search done`);
    }

    for (const run of runs) {
      run.finish = await run.proc.request<FinishResult>({ op: 'finish' });
      await run.proc.stop();
    }
  } finally {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await fs.rm(root, { recursive: true, force: true });
  }
  const loadEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  report(runs, machine, loadEnd, performance.now() - runStart, ds.dimension);
}

// --------------------------------------------------------------------------------------------------------- report

function report(runs: EngineRun[], machine: ReturnType<typeof machineInfo>, loadEnd: number[], runMs: number, dimension: number): void {
  const ours = runs.find((r) => r.id === 'ours')!;
  const hnsw = runs.find((r) => r.id === 'hnswlib');
  const sweeps = new Map(runs.map((r) => [r.id, sweep(r)]));
  const oursAt = new Map(TARGETS.map((t) => [t, atRecall(sweeps.get('ours')!, t)]));
  const rows: Record<string, unknown>[] = [];
  const sections: string[] = [];

  const buildMs = (r: EngineRun) => r.build.ingestMs + r.build.indexMs;
  const peak = (r: EngineRun) => r.finish!.peakRss - r.ready.baselineRss;
  const steady = (r: EngineRun) => r.build.rssAfterBuild - r.ready.baselineRss;
  const fewer = runs.filter((r) => r.queries < Q);

  sections.push(
    `# Peers benchmark\n\n` +
      `N=${N} vectors (${dimension}-dim, clustered low-rank, unit length, seed ${SEED}) with a 14-word text each; ${Q} queries, k=${K}, ` +
      `cosine; ${REPS} timed pass${REPS > 1 ? 'es' : ''} per setting, engines interleaved setting by setting (QPS: median over passes; ` +
      `p50/p99: over all queries of all passes). ${machine.cpu}, ${machine.cores} cores, ` +
      `${machine.memory_gib} GiB, Node ${machine.node}, ${machine.date}; load average ${machine.loadavg.join(' / ')} at start, ` +
      `${loadEnd.join(' / ')} at end. Ratios (× ours) divide the engine's number by our store's in this run.` +
      (fewer.length
        ? ` ${fewer.map((r) => `${r.ready.engine} is brute force and ran the first ${r.queries} queries only, ${repsFor(r.id)} passes`).join('; ')}.`
        : '') +
      (args.quick ? ' **Quick mode: tiny sizes, numbers are not meaningful.**' : ''),
  );

  // ---- build, memory, disk
  const buildRows: Cell[][] = runs.map((r) => [
    r.ready.engine,
    r.ready.index,
    secs(buildMs(r)),
    ratio(buildMs(r), buildMs(ours)),
    Math.round((N / r.build.ingestMs) * 1000),
    ratio(N / r.build.ingestMs, N / ours.build.ingestMs),
    mibOf(peak(r)),
    ratio(peak(r), peak(ours)),
    mibOf(steady(r)),
    mibOf(r.finish!.diskBytes) ?? 'in memory only',
    ratio(r.finish!.diskBytes, ours.finish!.diskBytes),
  ]);
  for (const r of runs) {
    rows.push({
      section: 'build',
      engine: r.id,
      index: r.ready.index,
      detail: r.build.detail,
      build_s: r3(secs(buildMs(r))),
      load_s: r3(secs(r.build.ingestMs)),
      index_s: r3(secs(r.build.indexMs)),
      ingest_rows_per_s: Math.round((N / r.build.ingestMs) * 1000),
      rss_peak_delta_bytes: peak(r),
      rss_after_build_delta_bytes: steady(r),
      rss_after_queries_delta_bytes: r.finish!.rssAfterQueries - r.ready.baselineRss,
      disk_bytes: r.finish!.diskBytes,
      settle_after_build_s: r3(r.settleSeconds),
    });
  }
  sections.push(
    `## Build, memory, disk\n\n` +
      markdownTable(
        ['engine', 'index', 'build s', '× ours', 'load rows/s', '× ours', 'peak RSS Δ MiB', '× ours', 'RSS Δ after build MiB', 'disk MiB', '× ours'],
        buildRows,
      ) +
      `\n\nBuild = time until the data is searchable with its index (load + any index build after it). Load rows/s = rows ` +
      `written per second during the load phase (for PGlite the HNSW and GIN builds come after it; our store, hnswlib and ` +
      `Orama index on insert). Our store and Orama also index the texts for keyword search during the load, PGlite computes ` +
      `the tsvector on insert; hnswlib and LanceDB index vectors only. RSS Δ is over the child process's RSS once the shared ` +
      `data was loaded (peak = kernel high-water mark over build and queries). Disk after a clean close. Queries start ` +
      `once every engine's process is idle after its build (our store: LevelDB compaction; settle times in the JSON).\n\n` +
      runs.map((r) => `- ${r.ready.engine}: ${r.build.detail}.`).join('\n'),
  );

  // ---- vector search at matched recall
  const matchRows: Cell[][] = [];
  for (const target of TARGETS) {
    const o = oursAt.get(target);
    for (const r of runs) {
      const pts = sweeps.get(r.id)!;
      const p = atRecall(pts, target);
      const best = pts.reduce((a, b) => (b.stats.recall > a.stats.recall ? b : a));
      rows.push({
        section: 'vector_at_recall',
        target,
        engine: r.id,
        setting: p?.setting.label ?? null,
        reached: Boolean(p),
        ...(p ? roundStats(p.stats) : { best_recall: r3(best.stats.recall), best_setting: best.setting.label }),
        qps_ratio_vs_ours: p && o ? r3(p.stats.qps / o.stats.qps) : null,
        queries: r.queries,
      });
      if (!p) {
        matchRows.push([`≥ ${target}`, r.ready.engine, `not reached (best ${best.stats.recall.toFixed(3)} at ${best.setting.label})`, null, null, '—', null, null, '—']);
        continue;
      }
      matchRows.push([
        `≥ ${target}`,
        r.ready.engine,
        p.setting.label,
        p.stats.recall,
        Math.round(p.stats.qps),
        ratio(p.stats.qps, o?.stats.qps),
        p.stats.p50_ms,
        p.stats.p99_ms,
        ratio(p.stats.p99_ms, o?.stats.p99_ms),
      ]);
    }
  }
  sections.push(
    `## Vector search at matched recall (fastest setting reaching the target; one query at a time)\n\n` +
      markdownTable(['recall@10', 'engine', 'setting', 'recall', 'QPS', 'QPS × ours', 'p50 ms', 'p99 ms', 'p99 × ours'], matchRows) +
      `\n\nOur store's latency is the full search() call: graph search plus loading each hit's record from LevelDB; the ` +
      `others return row ids (LanceDB and PGlite also run a query planner per call).`,
  );

  // ---- full sweeps
  const sweepRows: Cell[][] = [];
  for (const r of runs) {
    for (const p of sweeps.get(r.id)!) {
      sweepRows.push([r.ready.engine, p.setting.label, p.stats.recall, Math.round(p.stats.qps), p.stats.p50_ms, p.stats.p99_ms]);
      rows.push({ section: 'vector_sweep', engine: r.id, setting: p.setting.label, ef: p.setting.ef, ...roundStats(p.stats), queries: r.queries });
    }
  }
  sections.push(`## Vector search, every setting\n\n` + markdownTable(['engine', 'setting', 'recall@10', 'QPS', 'p50 ms', 'p99 ms'], sweepRows));

  // ---- keyword
  const kwRuns = runs.filter((r) => r.ready.keyword !== null);
  const oursKw = passStats(ours.keywordPasses);
  const kwRows: Cell[][] = kwRuns.map((r) => {
    const s = passStats(r.keywordPasses);
    const ov = r === ours ? 1 : overlap(ours.keywordIds!, r.keywordIds!);
    rows.push({ section: 'keyword', engine: r.id, scoring: r.ready.keyword, ...roundStats(s), overlap_at_10_with_ours: r3(ov) });
    return [r.ready.engine, r.ready.keyword, Math.round(s.qps), ratio(s.qps, oursKw.qps), s.p50_ms, s.p99_ms, ratio(s.p99_ms, oursKw.p99_ms), ov];
  });
  sections.push(
    `## Keyword search on the same texts (${QK} three-word queries taken from the documents, k=${K}, ` +
      `${KEYWORD_REPS} pass${KEYWORD_REPS > 1 ? 'es' : ''})\n\n` +
      markdownTable(['engine', 'scoring', 'QPS', 'QPS × ours', 'p50 ms', 'p99 ms', 'p99 × ours', 'overlap@10 with ours'], kwRows) +
      `\n\nThere is no single ground truth for BM25 variants (tokenisers, stemmers, k1/b, prefix matching, tie order all ` +
      `differ), so overlap@10 is agreement with our top 10, not accuracy. Many documents share the same three words, so ` +
      `ties are common and are broken differently by each engine; PGlite's ts_rank has no IDF at all.`,
  );

  // ---- targets
  const o95 = oursAt.get(0.95);
  const targetRows: Cell[][] = [];
  for (const r of runs) {
    if (r === ours) continue;
    const p = atRecall(sweeps.get(r.id)!, 0.95);
    const need = r.id === 'hnswlib' ? HNSWLIB_RATIO_MIN : 1;
    const measured = o95 && p ? o95.stats.qps / p.stats.qps : o95 ? Infinity : NaN;
    const verdict = Number.isNaN(measured) ? 'MISS' : measured >= need ? 'PASS' : 'MISS';
    targetRows.push([`our QPS / ${r.ready.engine} QPS at recall ≥ 0.95`, `≥ ${need.toFixed(2)}`, Number.isFinite(measured) ? `${measured.toFixed(2)}` : p ? '—' : 'peer never reaches 0.95', verdict]);
    rows.push({ section: 'target', peer: r.id, need, measured: Number.isFinite(measured) ? r3(measured) : null, pass: verdict === 'PASS' });
  }
  sections.push(
    `## Target (issue 6: at recall@10 ≥ 0.95, our QPS ≥ every peer's and ≥ ${HNSWLIB_RATIO_MIN}x raw hnswlib)\n\n` +
      markdownTable(['metric', 'target', 'measured', 'result'], targetRows) +
      (args.quick || N < 100_000 ? `\n\nThe target is stated for 100k vectors; this run has ${N}.` : ''),
  );

  const meta = {
    machine,
    mode: args.quick ? 'quick' : 'full',
    count: N,
    queries: Q,
    brute_force_queries: BRUTE_FORCE_QUERIES,
    brute_force_reps: BRUTE_FORCE_REPS,
    keyword_queries: QK,
    keyword_reps: KEYWORD_REPS,
    reps: REPS,
    k: K,
    seed: SEED,
    hnsw: HNSW,
    engines: runs.map((r) => ({ id: r.id, name: r.ready.engine, index: r.ready.index, keyword: r.ready.keyword, queries: r.queries })),
    loadavg_end: loadEnd,
    run_seconds: r3(secs(runMs)),
    hnswlib_ratio_min: HNSWLIB_RATIO_MIN,
    hnsw_ratio_ours_vs_raw: o95 && hnsw ? r3(o95.stats.qps / (atRecall(sweeps.get('hnswlib')!, 0.95)?.stats.qps ?? NaN)) : null,
  };
  const file = writeResults(args.quick ? 'peers-quick' : N === 100_000 ? 'peers' : `peers-${N % 1000 === 0 ? `${N / 1000}k` : N}`, { meta, rows, table: sections.join('\n\n') });
  log(`wrote ${file} (run ${meta.run_seconds}s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

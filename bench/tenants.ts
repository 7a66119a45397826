// Tenant lifecycle benchmark: how fast tenants move between hot, warm and cold, what a snapshot costs, and what
// thousands of tenants cost one node. Every figure has a baseline measured in the same run.
//
//   npm run bench:tenants                   # a tenant of 10,000 resources, 10,000 tenants (about 5 minutes)
//   npm run bench:tenants -- --quick        # 2,000 resources, 1,000 tenants (well under a minute)
//   npm run bench:tenants -- --count 5000 --tenants 2000 --opens 30 --restores 5
//
// 1. warm → hot: a tenant of `--count` resources (precomputed 384-dim embeddings, bench/dataset.ts) is opened
//    `--opens` times: TenantStore.open directly, and through a TenantManager with openMax 1 (a pinned second tenant
//    is hot, so the big one is evicted to warm after each use; timed from use() to its first read). Baseline: the
//    same LevelDB directory opened (and closed) alone with classic-level.
// 2. cold → hot: two database nodes (buildApi, in this process) over one nats-server and one s3rver. Node A offloads
//    the tenant (snapshot, files removed), node B writes a few resources to it (they exist only in the sync stream for
//    A), then A is asked for one of them: the time from that request to its answer covers the snapshot's download,
//    check and extraction, the store's open and the replay of B's ops. `--restores` rounds. Baseline: a plain
//    GetObject of the same archive, gunzipped and untarred into a temporary directory.
// 3. snapshots of the tenant: the time its writes are held (the copy and digest under its write lock) against the
//    whole snapshot; the archive's size against the tenant's size on disk; the latency of single writes sent while
//    a snapshot runs against the same writes when none runs; and a plain tar.gz + Upload of the same files.
// 4. `--tenants` tenants (two resources, an entity and a moment each) created in-process by a TenantManager with
//    openMax 64: the time it takes, the disk they use, open file descriptors and memory per hot tenant (measured in a
//    fresh child process that opens 64 of them), and a node's start-up over that data directory (buildApi to the first
//    answered GET /health/ready, and to the first answered read of one tenant) against an empty data directory and
//    one holding only the tenant read.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ClassicLevel } from 'classic-level';
import type { FastifyInstance } from 'fastify';
import { create as createTar, extract as untar } from 'tar';
import { buildApi } from '../services/api/app.js';
import { createS3Client, getStream, putStream } from '../shared/blob/s3.js';
import { loadConfig } from '../shared/config/config.js';
import { HashEmbedder } from '../shared/embed/hash-embedder.js';
import { stagingRoot } from '../shared/lifecycle/cold-storage.js';
import { archiveKey, SNAPSHOT_STORE_DEFAULTS, takeSnapshot } from '../shared/lifecycle/snapshot-store.js';
import { CAPTURE_ATTEMPTS_DEFAULT, captureSnapshot, discardCapture } from '../shared/lifecycle/snapshot.js';
import { tenantDir } from '../shared/rem/tenant-id.js';
import { putEntities } from '../shared/store/entities.js';
import { putMoments } from '../shared/store/moments.js';
import { putResources } from '../shared/store/resources.js';
import { TenantManager, type TenantEvents, type TenantManagerOptions } from '../shared/store/tenant-manager.js';
import { DEFAULT_LIMITS, TenantStore } from '../shared/store/tenant-store.js';
import { readArgs } from '../scripts/cli-args.js';
import { callUrl } from '../test/support/api.js';
import { startNats } from '../test/support/nats.js';
import { startS3 } from '../test/support/s3.js';
import { tempDir } from '../test/support/tmp.js';
import { makeDataset } from './dataset.js';
import { log, machineInfo, markdownTable, mean, percentile, writeResults, type Cell } from './report.js';

const BIG = 'big';
const SMALL = 'small';
const HOT_MAX = 64;
const TARGETS = { openP99Ms: 200, restoreP99Ms: 2000, startupMs: 2000 };
const PROBE_ENV = 'PERCOLATE_BENCH_TENANTS_PROBE';
const SELF = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------------------------------------------ arguments

interface Args {
  quick: boolean;
  count?: number;
  tenants?: number;
  opens?: number;
  restores?: number;
}

/** `--quick`, `--count N` (resources of the big tenant), `--tenants N`, `--opens N`, `--restores N`. */
function parseOptions(argv: readonly string[] = process.argv.slice(2)): Args {
  const args: Args = { quick: false };
  const unknown = (raw: string) => new Error(`unknown argument '${raw}' (expected --quick, --count N, --tenants N, --opens N, --restores N)`);
  const int = (name: string, raw: string | undefined): number => {
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer, got '${raw ?? ''}'`);
    return n;
  };
  const options = { quick: { type: 'boolean' }, count: { type: 'string' }, tenants: { type: 'string' }, opens: { type: 'string' }, restores: { type: 'string' } } as const;
  for (const a of readArgs(argv, options, unknown)) {
    if (a.kind === 'positional') throw unknown(a.raw);
    if (a.name === 'quick') args.quick = true;
    else args[a.name as 'count' | 'tenants' | 'opens' | 'restores'] = int(a.name, a.value);
  }
  return args;
}

// -------------------------------------------------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const openFds = () => fs.readdirSync('/proc/self/fd').length;
const MiB = 2 ** 20;

function summary(values: readonly number[]): { n: number; p50: number; p99: number; mean: number; max: number } {
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), mean: mean(values), max: values.length ? Math.max(...values) : NaN };
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(a / b >= 100 ? 0 : 2)}x` : '—');
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

/** The options a node's TenantManager gets from buildApi with the default configuration (no replication). */
function managerOptions(dataDir: string, openMax: number, events?: TenantEvents): TenantManagerOptions {
  const cfg = loadConfig({ PERCOLATE_DATA_DIR: dataDir, PERCOLATE_AUTH: 'off' });
  return {
    dataDir: cfg.dataDir,
    embedder: new HashEmbedder(),
    openMax,
    hnsw: { m: cfg.hnswM, efConstruction: cfg.hnswEfConstruction, efSearch: cfg.hnswEfSearch, pendingMax: cfg.vectorPendingMax },
    vectorCheckpointOps: cfg.vectorCheckpointOps,
    syncWrites: cfg.syncWrites,
    recordCacheBytes: cfg.recordCacheBytes,
    vectorIndexPoolMax: cfg.vectorIndexPoolMax,
    limits: { ...DEFAULT_LIMITS },
    // no idle demotion during the run: only the budgets act
    lifecycle: { idleWarmMs: 0, idleColdMs: 0, snapshotIntervalMs: 0 },
    ...(events ? { events } : {}),
  };
}

function storeOptions(dataDir: string, tenant: string) {
  const o = managerOptions(dataDir, 1);
  return { dataDir: o.dataDir, tenant, embedder: o.embedder, hnsw: o.hnsw, vectorCheckpointOps: o.vectorCheckpointOps, syncWrites: o.syncWrites, limits: o.limits, recordCacheBytes: o.recordCacheBytes, vectorIndexPoolMax: o.vectorIndexPoolMax, create: false };
}

/** Bytes of the files under `dir` (apparent) and the disk blocks they take (allocated, as du counts them). */
async function diskUsage(dir: string): Promise<{ bytes: number; allocated: number; files: number }> {
  let bytes = 0;
  let allocated = 0;
  let files = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        allocated += (await fsp.lstat(p)).blocks * 512;
        await walk(p);
      } else {
        const st = await fsp.lstat(p);
        bytes += st.size;
        allocated += st.blocks * 512;
        files++;
      }
    }
  };
  await walk(dir);
  return { bytes, allocated, files };
}

async function must(res: Promise<{ status: number; body: any }>, what: string, ok = (s: number) => s < 300): Promise<any> {
  const r = await res;
  if (!ok(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------------------------------ 1. warm → hot opens

interface OpenResults {
  ingestSeconds: number;
  sizeBytes: number;
  ids: string[];
  classicOpen: number[];
  classicClose: number[];
  storeOpen: number[];
  storeClose: number[];
  managerUse: number[];
  managerOpenEvent: number[];
  managerClose: number[];
}

/** The big tenant (precomputed embeddings) and a one-resource second tenant, written and closed (checkpointed). */
async function buildBigTenant(dataDir: string, count: number): Promise<{ ids: string[]; seconds: number }> {
  const ds = makeDataset({ count, dimension: 384, seed: 20240611, queries: 1 });
  const tm = new TenantManager(managerOptions(dataDir, 4));
  const ids: string[] = [];
  const t0 = now();
  await tm.use(BIG, true, async (s) => {
    for (let start = 0; start < count; start += 1000) {
      const end = Math.min(count, start + 1000);
      const batch = [];
      for (let i = start; i < end; i++) batch.push({ uri: `bench://doc/${i}`, content: ds.texts[i]!, embedding: Array.from(ds.vectors[i]!) });
      ids.push(...(await putResources(s, batch)));
    }
    await s.vectorsSettled();
    await s.writeLock.run(async () => undefined);
  });
  const seconds = (now() - t0) / 1000;
  await tm.use(SMALL, true, (s) => putResources(s, [{ uri: 'bench://small/0', content: 'the small tenant that stays hot' }]));
  await tm.close();
  return { ids, seconds };
}

async function measureOpens(dataDir: string, count: number, opens: number): Promise<OpenResults> {
  log(`phase 1: a tenant of ${count} resources`);
  const { ids, seconds } = await buildBigTenant(dataDir, count);
  log(`phase 1: written in ${seconds.toFixed(1)}s; ${opens} opens of each kind`);
  const dbDir = path.join(tenantDir(dataDir, BIG), 'db');
  const res: OpenResults = { ingestSeconds: seconds, sizeBytes: 0, ids, classicOpen: [], classicClose: [], storeOpen: [], storeClose: [], managerUse: [], managerOpenEvent: [], managerClose: [] };

  // the first opens after the ingest replay nothing but may compact: untimed
  for (let i = 0; i < 2; i++) await (await TenantStore.open(storeOptions(dataDir, BIG))).close();
  {
    const s = await TenantStore.open(storeOptions(dataDir, BIG));
    res.sizeBytes = await s.sizeOnDiskBytes();
    await s.close();
  }

  let bigClosed: (() => void) | undefined;
  const tm = new TenantManager(
    managerOptions(dataDir, 1, {
      transition: (tenant, from, to) => {
        if (tenant === BIG && from === 'hot' && to === 'warm') bigClosed?.();
      },
      duration: (kind, ms) => {
        if (kind === 'open' && collecting) res.managerOpenEvent.push(ms);
      },
    }),
  );
  let collecting = false;
  // the second tenant is pinned (never the eviction victim) and hot: each use of the big one evicts it right after
  await tm.setPinned(SMALL, true);
  await tm.use(SMALL, false, async (s) => s.count('resources'));
  const probeId = ids[Math.floor(ids.length / 2)]!;
  try {
    for (let round = -1; round < opens; round++) {
      const timed = round >= 0;
      // baseline: the same LevelDB alone
      let t0 = now();
      const db = new ClassicLevel(dbDir, { valueEncoding: 'json' });
      await db.open();
      let t1 = now();
      await db.close();
      let t2 = now();
      if (timed) {
        res.classicOpen.push(t1 - t0);
        res.classicClose.push(t2 - t1);
      }
      // the store directly
      t0 = now();
      const store = await TenantStore.open(storeOptions(dataDir, BIG));
      t1 = now();
      await store.close();
      t2 = now();
      if (timed) {
        res.storeOpen.push(t1 - t0);
        res.storeClose.push(t2 - t1);
      }
      // through the manager: warm → hot to the first read, then evicted to warm (hot count over 1)
      const closed = new Promise<void>((resolve) => (bigClosed = resolve));
      collecting = timed;
      t0 = now();
      let tUsed = 0;
      await tm.use(BIG, false, async (s) => {
        const r = await s.get('resources', probeId);
        tUsed = now();
        if (!r) throw new Error('the big tenant lost a record');
      });
      t1 = now();
      await closed;
      t2 = now();
      collecting = false;
      if (timed) {
        res.managerUse.push(tUsed - t0);
        res.managerClose.push(t2 - t1);
      }
    }
  } finally {
    await tm.close();
  }
  return res;
}

// ---------------------------------------------------------------------------------- 2 + 3. snapshots and restores

interface ApiNode {
  app: FastifyInstance;
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

async function startApiNode(env: Record<string, string>, dataDir: string, id: string): Promise<ApiNode> {
  const cfg = loadConfig({ ...env, PERCOLATE_DATA_DIR: dataDir, PERCOLATE_NODE_ID: id, PORT: '0', PERCOLATE_AUTH: 'off', LOG_LEVEL: 'warn' });
  const app = await buildApi(cfg, { embedder: new HashEmbedder(), logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  const url = `http://127.0.0.1:${addr.port}`;
  if (env.PERCOLATE_NATS_URL) {
    await waitFor(`node ${id} connected`, async () => (await callUrl(url, 'GET', '/health/ready', { tenant: null })).body?.replication === 'connected');
    await waitFor(`node ${id} operations`, async () => (await callUrl(url, 'GET', '/api/v1/operations/00000000000000000000000000', { tenant: 'probe' })).status === 404);
  }
  return { app, url, dataDir, close: () => app.close() };
}

/** Starts a lifecycle operation and polls it to the end; the time from the request to the completed record. */
async function operation(node: ApiNode, tenant: string, route: string): Promise<{ ms: number; body: any }> {
  const t0 = now();
  const started = await must(callUrl(node.url, 'POST', route, { tenant }), `${route} of ${tenant}`, (s) => s === 202);
  for (;;) {
    const r = await callUrl(node.url, 'GET', `/api/v1/operations/${started.operation_id}`, { tenant });
    if (r.body?.status === 'completed') return { ms: now() - t0, body: r.body };
    if (r.body?.status === 'failed') throw new Error(`${route} of ${tenant} failed: ${JSON.stringify(r.body).slice(0, 500)}`);
    await sleep(10);
  }
}

async function writeOne(node: ApiNode, n: number): Promise<number> {
  const t0 = now();
  await must(callUrl(node.url, 'POST', '/api/v1/resources', { tenant: BIG, body: { uri: `bench://during/${n}`, content: `a write sent while snapshots run, number ${n}` } }), 'write');
  return now() - t0;
}

/** Single writes to the big tenant on `node`, one every `everyMs` (0: back to back, each when the last is answered), until stopped. */
function pacedWriter(node: ApiNode, next: () => number, everyMs = WRITE_EVERY_MS): { stop(): Promise<number[]> } {
  let stopped = false;
  const lat: number[] = [];
  const done = (async () => {
    while (!stopped) {
      const t0 = now();
      lat.push(await writeOne(node, next()));
      const wait = everyMs - (now() - t0);
      if (wait > 0 && !stopped) await sleep(wait);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return lat;
    },
  };
}

/** 50 single writes a second while snapshots run: a steady load, not a saturating one. */
const WRITE_EVERY_MS = 20;

interface SnapshotResults {
  sizeBytes: number[];
  archiveBytes: number[];
  plainBytes: number[];
  held: number[];
  copy: number[];
  digest: number[];
  upload: number[];
  whole: number[];
  attempts: number[];
  operation: number[];
  plain: number[];
  loadedWhole: number[];
  loadedHeld: number[];
  loadedAttempts: number[];
  loadedOperation: number[];
  writesIdle: number[];
  writesDuring: number[];
  /** In-process snapshots while single writes go back to back: the successful ones, their attempts, the failures. */
  hardWhole: number[];
  hardHeld: number[];
  hardAttempts: number[];
  hardFailures: string[];
  hardFailedMs: number[];
  hardWrites: number;
  hardSeconds: number;
  /** Writes made on A in this phase (all after the tenant's last vector checkpoint). */
  writes: number;
}

interface RestoreRounds {
  offload: number[];
  restore: number[];
  fetch: number[];
  replay: number[];
  replayed: number[];
  baseline: number[];
}

interface RestoreResults {
  archiveBytes: number;
  opsPerRound: number;
  asIs: RestoreRounds;
  firstOnB: number;
}

const emptyRounds = (): RestoreRounds => ({ offload: [], restore: [], fetch: [], replay: [], replayed: [], baseline: [] });

async function snapshotsAndRestores(dataDir: string, ids: string[], rounds: number): Promise<{ snap: SnapshotResults; rest: RestoreResults }> {
  log('phase 2/3: nats-server and s3rver');
  const [nats, s3] = await Promise.all([startNats(), startS3('percolate-bench')]);
  const dirB = await tempDir('percolate-bench-tenants-b-');
  const staging = await tempDir('percolate-bench-tenants-get-');
  const nodes: ApiNode[] = [];
  try {
    const env = { ...s3.env, PERCOLATE_NATS_URL: nats.url, PERCOLATE_SNAPSHOTS: 'on' };
    const a = await startApiNode(env, dataDir, 'a');
    nodes.push(a);
    const tenants = a.app.ctx.tenants;
    const lifecycle = a.app.ctx.lifecycle;
    const snapshots = lifecycle.snapshots!;
    const s3cfg = a.app.ctx.cfg.lifecycle.snapshots!;
    const client = createS3Client(s3cfg);
    const inProcess = () => tenants.use(BIG, false, (st) => takeSnapshot(st, snapshots, stagingRoot(dataDir), { streamSeq: 0, node: 'bench' }));

    // ---- 3. snapshots (the tenant hot on A)
    const snap: SnapshotResults = {
      sizeBytes: [], archiveBytes: [], plainBytes: [], held: [], copy: [], digest: [], upload: [], whole: [], attempts: [], operation: [], plain: [],
      loadedWhole: [], loadedHeld: [], loadedAttempts: [], loadedOperation: [], writesIdle: [], writesDuring: [], writes: 0,
      hardWhole: [], hardHeld: [], hardAttempts: [], hardFailures: [], hardFailedMs: [], hardWrites: 0, hardSeconds: 0,
    };
    const nextWrite = () => snap.writes++;
    await must(callUrl(a.url, 'GET', `/api/v1/resources/${ids[0]}`, { tenant: BIG }), 'first read on A');
    for (let i = 0; i < 10; i++) await writeOne(a, nextWrite()); // warm-up
    log(`phase 3: ${rounds} rounds of snapshots`);
    for (let r = 0; r < rounds; r++) {
      // single writes with no snapshot running: the baseline of the writes sent while one runs
      {
        const w = pacedWriter(a, nextWrite);
        await sleep(600);
        snap.writesIdle.push(...(await w.stop()));
      }
      await tenants.use(BIG, false, async (st) => {
        await st.vectorsSettled();
        snap.sizeBytes.push(await st.sizeOnDiskBytes());
      });
      // in-process, no writes: the capture's own timings (writes held = copy + digest), then the upload
      let t0 = now();
      const taken = await inProcess();
      snap.whole.push(now() - t0);
      snap.held.push(taken.timings.heldMs);
      snap.copy.push(taken.timings.copyMs);
      snap.digest.push(taken.timings.digestMs);
      snap.upload.push(taken.timings.uploadMs);
      snap.attempts.push(taken.attempts);
      snap.archiveBytes.push(taken.manifest.archive.bytes);
      // baseline: the same files (a capture, untimed) as a plain tar.gz of the same zlib level, uploaded with the
      // same part settings: no hashing, no manifest, no pruning
      const captured = await tenants.use(BIG, false, (st) => captureSnapshot(st, stagingRoot(dataDir), { streamSeq: 0, node: 'bench' }));
      try {
        t0 = now();
        const names = (await fsp.readdir(captured.dir)).sort();
        let bytes = 0;
        const packed = createTar({ cwd: captured.dir, gzip: { level: 1 }, portable: true }, names) as unknown as AsyncIterable<Buffer>;
        async function* counted(): AsyncGenerator<Buffer> {
          for await (const chunk of packed) {
            bytes += chunk.length;
            yield chunk;
          }
        }
        await putStream(client, s3cfg.bucket, `bench/plain-${r}.tar.gz`, Readable.from(counted(), { objectMode: false }), {
          partBytes: SNAPSHOT_STORE_DEFAULTS.partBytes,
          queueSize: SNAPSHOT_STORE_DEFAULTS.queueSize,
        });
        snap.plain.push(now() - t0);
        snap.plainBytes.push(bytes);
      } finally {
        await discardCapture(captured);
      }
      // the operation through HTTP, no writes
      snap.operation.push((await operation(a, BIG, '/api/v1/tenant/snapshot')).ms);
      // the same two while single writes arrive (50/s)
      {
        const w = pacedWriter(a, nextWrite);
        try {
          snap.loadedOperation.push((await operation(a, BIG, '/api/v1/tenant/snapshot')).ms);
          t0 = now();
          const loaded = await inProcess();
          snap.loadedWhole.push(now() - t0);
          snap.loadedHeld.push(loaded.timings.heldMs);
          snap.loadedAttempts.push(loaded.attempts);
        } finally {
          snap.writesDuring.push(...(await w.stop()));
        }
      }
      // and while single writes go back to back (as fast as one tenant's writes are answered): the capture retries
      // while its db directory changes under the write lock, and gives up after its last attempt
      {
        const w = pacedWriter(a, nextWrite, 0);
        const tw = now();
        await sleep(300);
        t0 = now();
        try {
          const hard = await inProcess();
          snap.hardWhole.push(now() - t0);
          snap.hardHeld.push(hard.timings.heldMs);
          snap.hardAttempts.push(hard.attempts);
        } catch (err) {
          snap.hardFailedMs.push(now() - t0);
          snap.hardFailures.push(String((err as Error).message).slice(0, 300));
          log(`snapshot with writes back to back failed: ${String((err as Error).message).slice(0, 200)}`);
        } finally {
          snap.hardWrites += (await w.stop()).length;
          snap.hardSeconds += (now() - tw) / 1000;
        }
      }
      log(
        `snapshot round ${r + 1}/${rounds}: held ${snap.held.at(-1)!.toFixed(0)} ms of ${snap.whole.at(-1)!.toFixed(0)} ms; operation ${snap.operation.at(-1)!.toFixed(0)} ms; ` +
          `plain ${snap.plain.at(-1)!.toFixed(0)} ms; with writes: operation ${snap.loadedOperation.at(-1)!.toFixed(0)} ms, in-process ${snap.loadedWhole.at(-1)!.toFixed(0)} ms in ${snap.loadedAttempts.at(-1)} attempts`,
      );
    }

    // ---- 2. restores: A offloads, B writes, A is asked for B's write
    const rest: RestoreResults = { archiveBytes: 0, opsPerRound: 20, asIs: emptyRounds(), firstOnB: NaN };
    const cold = lifecycle.coldStorage!;
    const timing = { fetch: NaN, replay: NaN, replayed: 0 };
    const fetchLatest = cold.fetchLatest.bind(cold);
    const catchUp = cold.catchUp.bind(cold);
    cold.fetchLatest = async (tenant, dir) => {
      const t0 = now();
      try {
        return await fetchLatest(tenant, dir);
      } finally {
        if (tenant === BIG) timing.fetch = now() - t0;
      }
    };
    cold.catchUp = async (store, afterSeq) => {
      const t0 = now();
      const n = await catchUp(store, afterSeq);
      if (store.tenant === BIG) {
        timing.replay = now() - t0;
        timing.replayed = n.applied;
      }
      return n;
    };
    log('phase 2: node B (it brings the tenant over from the snapshot and the stream)');
    const b = await startApiNode(env, dirB.dir, 'b');
    nodes.push(b);
    {
      const t0 = now();
      await must(callUrl(b.url, 'GET', `/api/v1/resources/${ids[0]}`, { tenant: BIG }), 'first read on B');
      rest.firstOnB = now() - t0;
    }
    // the offload checkpoints the tenant's vector indexes before the capture (TenantManager.offload), so the archive's
    // graphs are current and the restore re-inserts nothing; the writes made on A in phase 1 are all in them
    log(`phase 2: ${rounds} restores on A`);
    for (let r = 0; r < rounds; r++) {
      const into = rest.asIs;
      const off = await operation(a, BIG, '/api/v1/tenant/offload');
      into.offload.push(off.ms);
      const presence = tenants.presence(BIG);
      if (presence?.state !== 'cold' || !presence.snapshot) throw new Error(`after the offload A holds the tenant ${presence?.state}`);
      rest.archiveBytes = presence.snapshot.bytes;
      // B writes while A holds the tenant cold: for A those ops are only in the stream
      const resources = Array.from({ length: rest.opsPerRound }, (_, i) => ({ uri: `bench://after/${r}/${i}`, content: `written on node b after snapshot ${r}, number ${i}` }));
      const written = await must(callUrl(b.url, 'POST', '/api/v1/resources', { tenant: BIG, body: { resources } }), 'write on B');
      await waitFor('B published its outbox', async () => b.app.ctx.tenants.outboxDepth() === 0);
      // baseline: the archive A will restore, with a plain GetObject and untar
      const dir = path.join(staging.dir, `round-${r}`);
      await fsp.mkdir(dir);
      let t0 = now();
      const { body } = await getStream(client, s3cfg.bucket, archiveKey(BIG, presence.snapshot.id));
      await pipeline(body, untar({ cwd: dir }));
      into.baseline.push(now() - t0);
      await fsp.rm(dir, { recursive: true, force: true });
      // the restore: a read on A of a resource only B's ops hold
      timing.fetch = timing.replay = NaN;
      timing.replayed = 0;
      const lastId = (written.ids as string[]).at(-1)!;
      t0 = now();
      const got = await callUrl(a.url, 'GET', `/api/v1/resources/${lastId}`, { tenant: BIG });
      into.restore.push(now() - t0);
      if (got.status !== 200) throw new Error(`A answered ${got.status} for a resource written on B: ${JSON.stringify(got.body).slice(0, 300)}`);
      into.fetch.push(timing.fetch);
      into.replay.push(timing.replay);
      into.replayed.push(timing.replayed);
      // every acknowledged write is there: both nodes agree
      await waitFor(
        'A and B to agree on the tenant',
        async () => {
          const [da, db] = await Promise.all([a, b].map((n) => callUrl(n.url, 'GET', '/api/v1/tenant/digest', { tenant: BIG })));
          return da!.status === 200 && da!.body.digest === db!.body.digest;
        },
        30_000,
        50,
      );
      log(
        `restore ${r + 1}/${rounds}: ${into.restore.at(-1)!.toFixed(0)} ms (fetch ${timing.fetch.toFixed(0)}, ` +
          `replay of ${timing.replayed} ops ${timing.replay.toFixed(0)}); baseline ${into.baseline.at(-1)!.toFixed(0)} ms; offload ${off.ms.toFixed(0)} ms`,
      );
    }
    client.destroy();
    return { snap, rest };
  } finally {
    for (const n of nodes.reverse()) await n.close().catch((err: unknown) => log(`node close failed: ${String(err)}`));
    await Promise.all([nats.cleanup(), s3.cleanup(), dirB.cleanup(), staging.cleanup()]);
  }
}

// ---------------------------------------------------------------------------------------- 4. many tenants

interface ProbeResult {
  hot_before: number;
  hot_after: number;
  rss_before: number;
  rss_after: number;
  fds_before: number;
  fds_after: number;
  estimate_before: number;
  estimate_after: number;
}

/** In a fresh process (run by the parent): memory and descriptors of 1 hot tenant, then of HOT_MAX. */
async function probe(dataDir: string, tenants: number): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(50);
    }
  };
  const tm = new TenantManager(managerOptions(dataDir, HOT_MAX));
  const stride = Math.max(1, Math.floor(tenants / HOT_MAX));
  const read = (i: number) => tm.use(`t${(i * stride) % tenants}`, false, async (s) => s.count('resources'));
  await read(0);
  await settle();
  const before = { hot: tm.openCount, rss: process.memoryUsage().rss, fds: openFds(), est: tm.memoryEstimateBytes() };
  for (let i = 1; i < Math.min(HOT_MAX, tenants); i++) await read(i);
  await settle();
  const out: ProbeResult = {
    hot_before: before.hot,
    hot_after: tm.openCount,
    rss_before: before.rss,
    rss_after: process.memoryUsage().rss,
    fds_before: before.fds,
    fds_after: openFds(),
    estimate_before: before.est,
    estimate_after: tm.memoryEstimateBytes(),
  };
  await tm.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runProbe(dataDir: string, tenants: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
      env: { ...process.env, [PROBE_ENV]: JSON.stringify({ dataDir, tenants }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`memory probe exited with ${code}: ${out.slice(-500)}`));
      try {
        resolve(JSON.parse(line) as ProbeResult);
      } catch {
        reject(new Error(`memory probe printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

interface StartupRun {
  ready: number;
  read: number;
  status: number;
}

/** buildApi over `dataDir` (standalone), to the first 200 of /health/ready and to the first answer of a tenant read. */
async function startup(dataDir: string, tenant: string, id: string): Promise<StartupRun> {
  const t0 = now();
  const cfg = loadConfig({ PERCOLATE_DATA_DIR: dataDir, PORT: '0', PERCOLATE_AUTH: 'off', LOG_LEVEL: 'warn' });
  const app = await buildApi(cfg, { embedder: new HashEmbedder(), logger: false });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr !== 'object') throw new Error('no address');
    const url = `http://127.0.0.1:${addr.port}`;
    for (;;) {
      const r = await fetch(`${url}/health/ready`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    }
    const ready = now() - t0;
    const r = await fetch(`${url}/api/v1/resources/${id}`, { headers: { 'x-tenant-id': tenant } });
    await r.arrayBuffer();
    return { ready, read: now() - t0, status: r.status };
  } finally {
    await app.close();
  }
}

interface ManyResults {
  tenants: number;
  createSeconds: number;
  createFdsMax: number;
  disk: { bytes: number; allocated: number; files: number };
  catalogDisk: { bytes: number; allocated: number };
  probe: ProbeResult;
  startup: { label: string; tenants: number; ready: number[]; read: number[]; status: number }[];
}

async function manyTenants(count: number, startups: number): Promise<ManyResults> {
  const data = await tempDir('percolate-bench-tenants-many-');
  const one = await tempDir('percolate-bench-tenants-one-');
  const empty = await tempDir('percolate-bench-tenants-empty-');
  try {
    log(`phase 4: creating ${count} tenants (open cap ${HOT_MAX})`);
    const tm = new TenantManager(managerOptions(data.dir, HOT_MAX));
    const probeIndex = Math.floor(count / 2);
    let probeId = '';
    let fdsMax = 0;
    const t0 = now();
    try {
      for (let i = 0; i < count; i++) {
        const tenant = `t${i}`;
        await tm.use(tenant, true, async (s) => {
          const ids = await putResources(s, [
            { uri: `doc://${tenant}/1`, content: `tenant ${i} keeps its first note about the project` },
            { uri: `doc://${tenant}/2`, content: `tenant ${i} keeps a second note about the meeting` },
          ]);
          await putEntities(s, [{ type: 'person', key: `p${i}`, name: `Person ${i}` }]);
          await putMoments(s, [{ summary: `tenant ${i} met its first user`, start_time: '2024-01-01T00:00:00Z' }]);
          if (i === probeIndex) probeId = ids[0]!;
        });
        if (i % 100 === 99) fdsMax = Math.max(fdsMax, openFds());
        if (i % 1000 === 999) log(`created ${i + 1} tenants (${((i + 1) / ((now() - t0) / 1000)).toFixed(0)}/s), ${openFds()} fds`);
      }
    } finally {
      await tm.close();
    }
    const createSeconds = (now() - t0) / 1000;
    const disk = await diskUsage(path.join(data.dir, 'tenants'));
    const catalogDisk = await diskUsage(path.join(data.dir, 'catalog'));
    log(`phase 4: ${count} tenants in ${createSeconds.toFixed(1)}s, ${(disk.allocated / MiB).toFixed(0)} MiB on disk; memory probe in a fresh process`);
    const probeResult = await runProbe(data.dir, count);

    // a data directory with only the tenant that is read
    const probeTenant = `t${probeIndex}`;
    await fsp.cp(tenantDir(data.dir, probeTenant), tenantDir(one.dir, probeTenant), { recursive: true });
    const dirs = [
      { label: 'empty data directory (baseline for ready)', dir: empty.dir, tenants: 0 },
      { label: 'only the tenant read (baseline for the read)', dir: one.dir, tenants: 1 },
      { label: `${count} tenants`, dir: data.dir, tenants: count },
    ];
    await startup(empty.dir, probeTenant, probeId); // warm-up: module and JIT costs of the first build
    const runs = dirs.map((d) => ({ label: d.label, tenants: d.tenants, ready: [] as number[], read: [] as number[], status: 0 }));
    for (let rep = 0; rep < startups; rep++) {
      for (let i = 0; i < dirs.length; i++) {
        const r = await startup(dirs[i]!.dir, probeTenant, probeId);
        runs[i]!.ready.push(r.ready);
        runs[i]!.read.push(r.read);
        runs[i]!.status = r.status;
      }
    }
    log(`phase 4: start-up with ${count} tenants: ready ${percentile(runs[2]!.ready, 50).toFixed(0)} ms, first read ${percentile(runs[2]!.read, 50).toFixed(0)} ms`);
    return { tenants: count, createSeconds, createFdsMax: fdsMax, disk, catalogDisk: { bytes: catalogDisk.bytes, allocated: catalogDisk.allocated }, probe: probeResult, startup: runs };
  } finally {
    await Promise.all([data.cleanup(), one.cleanup(), empty.cleanup()]);
  }
}

// ---------------------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseOptions();
  const N = args.count ?? (args.quick ? 2000 : 10_000);
  const TENANTS = args.tenants ?? (args.quick ? 1000 : 10_000);
  const OPENS = args.opens ?? (args.quick ? 15 : 30);
  const RESTORES = args.restores ?? (args.quick ? 3 : 5);
  const STARTUPS = args.quick ? 3 : 5;
  const machine = machineInfo();
  const started = now();

  const work = await tempDir('percolate-bench-tenants-');
  let opens: OpenResults;
  let snap: SnapshotResults;
  let rest: RestoreResults;
  try {
    opens = await measureOpens(work.dir, N, OPENS);
    ({ snap, rest } = await snapshotsAndRestores(work.dir, opens.ids, RESTORES));
  } finally {
    await work.cleanup();
  }
  const many = await manyTenants(TENANTS, STARTUPS);
  const seconds = (now() - started) / 1000;

  // ---- tables
  const s = summary;
  const co = s(opens.classicOpen);
  const cc = s(opens.classicClose);
  const openRow = (label: string, v: number[], base: ReturnType<typeof summary>): Cell[] => {
    const x = s(v);
    return [label, x.n, x.p50, x.p99, x.mean, ratio(x.p50, base.p50), ratio(x.p99, base.p99)];
  };
  const openTable = markdownTable(
    ['warm → hot', 'runs', 'p50 ms', 'p99 ms', 'mean ms', 'p50 × baseline', 'p99 × baseline'],
    [
      openRow('classic-level open alone (baseline)', opens.classicOpen, co),
      openRow('TenantStore.open', opens.storeOpen, co),
      openRow('manager use() to the first read', opens.managerUse, co),
      openRow('manager open (its own timer)', opens.managerOpenEvent, co),
      openRow('classic-level close alone (baseline)', opens.classicClose, cc),
      openRow('TenantStore.close (checkpoint + close)', opens.storeClose, cc),
      openRow('manager eviction hot → warm', opens.managerClose, cc),
    ],
  );

  const restRows = (label: string, g: RestoreRounds, base: ReturnType<typeof summary>): Cell[][] => {
    const row = (name: string, v: number[]): Cell[] => {
      const x = s(v);
      return [name, x.n, x.p50, x.p99, ratio(x.p50, base.p50), ratio(x.p99, base.p99)];
    };
    const other = g.restore.map((t, i) => t - (g.fetch[i] ?? 0) - (g.replay[i] ?? 0));
    return [
      row(`${label}: request on A to its answer`, g.restore),
      row('· snapshot download, check, extract, install', g.fetch),
      row(`· stream replay (${s(g.replayed).p50} ops)`, g.replay),
      row('· the rest: store open (graphs from the checkpoint), HTTP', other),
      row(`${label}: offload (outbox, snapshot, close, files removed)`, g.offload),
    ];
  };
  const restoreBase = s(rest.asIs.baseline);
  const restoreTable = markdownTable(
    ['cold → hot', 'runs', 'p50 ms', 'p99 ms', 'p50 × baseline', 'p99 × baseline'],
    [
      ['GetObject + gunzip/untar to a temp dir (baseline)', restoreBase.n, restoreBase.p50, restoreBase.p99, '1.00x', '1.00x'],
      ...restRows('restore', rest.asIs, restoreBase),
    ],
  );

  const held = s(snap.held);
  const whole = s(snap.whole);
  const plain = s(snap.plain);
  const idle = s(snap.writesIdle);
  const op = s(snap.operation);
  const snapRow = (label: string, v: number[], base: number, of: string): Cell[] => {
    const x = s(v);
    return [label, x.n, x.p50, x.max, ratio(x.p50, base), of];
  };
  const attempts = (v: number[]) => `${Math.min(...v)}–${Math.max(...v)}`;
  const snapTable = markdownTable(
    ['snapshot', 'runs', 'p50 ms', 'max ms', 'p50 ratio', 'ratio of'],
    [
      snapRow('plain tar.gz + Upload of the same files (baseline)', snap.plain, plain.p50, 'plain'),
      snapRow(`whole snapshot, in-process takeSnapshot (${attempts(snap.attempts)} capture attempts)`, snap.whole, plain.p50, 'plain'),
      snapRow('· writes held: copy + digest under the write lock', snap.held, whole.p50, 'whole'),
      snapRow('· · copy (hard links; CURRENT, MANIFEST, log copied)', snap.copy, whole.p50, 'whole'),
      snapRow('· · digest (tenantDigest, a scan of the tenant)', snap.digest, whole.p50, 'whole'),
      snapRow('· pack + gzip + hash + upload + manifest', snap.upload, whole.p50, 'whole'),
      snapRow('snapshot operation over HTTP (request to completed)', snap.operation, plain.p50, 'plain'),
      snapRow(`with 50 writes/s: in-process takeSnapshot (${attempts(snap.loadedAttempts)} capture attempts)`, snap.loadedWhole, whole.p50, 'whole, no writes'),
      snapRow('with 50 writes/s: writes held by the successful attempt', snap.loadedHeld, held.p50, 'held, no writes'),
      snapRow('with 50 writes/s: snapshot operation over HTTP', snap.loadedOperation, op.p50, 'operation, no writes'),
      snapRow(
        `writes back to back (${r1(snap.hardWrites / snap.hardSeconds)}/s): in-process takeSnapshot, ${snap.hardWhole.length} of ${snap.hardWhole.length + snap.hardFailures.length} succeeded (${snap.hardAttempts.length ? attempts(snap.hardAttempts) : '—'} attempts)`,
        snap.hardWhole,
        whole.p50,
        'whole, no writes',
      ),
      ...(snap.hardFailures.length ? [snapRow(`writes back to back: failed snapshots (capture_unstable after ${CAPTURE_ATTEMPTS_DEFAULT} attempts)`, snap.hardFailedMs, whole.p50, 'whole, no writes')] : []),
      snapRow('single write, no snapshot running (baseline)', snap.writesIdle, idle.p50, 'idle write'),
      snapRow('single write while snapshots run (50/s)', snap.writesDuring, idle.p50, 'idle write'),
    ],
  );
  const lastSize = snap.sizeBytes.at(-1)!;
  const lastArchive = snap.archiveBytes.at(-1)!;
  const lastPlain = snap.plainBytes.at(-1)!;
  const sizeTable = markdownTable(
    ['size (last snapshot round)', 'MiB', 'ratio to on disk'],
    [
      [`tenant on disk (${N} resources + ${snap.writes} written in this phase)`, lastSize / MiB, '1.00x'],
      ['snapshot archive (gzip level 1)', lastArchive / MiB, ratio(lastArchive, lastSize)],
      ['plain tar.gz of the same files', lastPlain / MiB, ratio(lastPlain, lastSize)],
    ],
  );

  const p = many.probe;
  const hotAdded = p.hot_after - p.hot_before;
  const rssPerHot = (p.rss_after - p.rss_before) / hotAdded;
  const estPerHot = (p.estimate_after - p.estimate_before) / hotAdded;
  const fdsPerHot = (p.fds_after - p.fds_before) / hotAdded;
  const manyTable = markdownTable(
    ['tenants on one node', 'value', 'unit', 'baseline', 'ratio'],
    [
      [`create ${many.tenants} tenants (2 resources, 1 entity, 1 moment each)`, many.createSeconds, 's', null, null],
      ['creation rate', many.tenants / many.createSeconds, 'tenants/s', null, null],
      ['tenant files on disk (apparent size)', many.disk.bytes / MiB, 'MiB', null, null],
      ['tenant files on disk (allocated, as du)', many.disk.allocated / MiB, 'MiB', null, null],
      ['per tenant (allocated)', many.disk.allocated / many.tenants / 1024, 'KiB', `${r1(many.disk.bytes / many.tenants / 1024)} KiB apparent`, ratio(many.disk.allocated, many.disk.bytes)],
      ['files per tenant', many.disk.files / many.tenants, 'files', null, null],
      ['catalog (allocated)', many.catalogDisk.allocated / MiB, 'MiB', null, null],
      [`open fds with ${p.hot_after} hot (fresh process)`, p.fds_after, 'fds', `${p.fds_before} with ${p.hot_before} hot`, ratio(p.fds_after, p.fds_before)],
      ['open fds per hot tenant', fdsPerHot, 'fds', null, null],
      ['open fds at most while creating (this process)', many.createFdsMax, 'fds', null, null],
      ['RSS per hot tenant (delta / hot count)', rssPerHot / MiB, 'MiB', `RSS ${r1(p.rss_before / MiB)} → ${r1(p.rss_after / MiB)} MiB`, null],
      ['memoryEstimateBytes() per hot tenant', estPerHot / MiB, 'MiB', 'RSS per hot tenant', ratio(estPerHot, rssPerHot)],
    ],
  );
  const su = many.startup;
  const emptyReady = percentile(su[0]!.ready, 50);
  const oneRead = percentile(su[1]!.read, 50);
  const startupTable = markdownTable(
    ['node start-up (standalone)', 'tenants', 'runs', 'to ready p50 ms', 'to ready max ms', 'to first read p50 ms', 'to first read max ms', 'ready × empty', 'read × one tenant'],
    su.map((r) => [r.label, r.tenants, r.ready.length, percentile(r.ready, 50), Math.max(...r.ready), percentile(r.read, 50), Math.max(...r.read), ratio(percentile(r.ready, 50), emptyReady), ratio(percentile(r.read, 50), oneRead)]),
  );
  const big = su[2]!;
  const restoreP99 = s(rest.asIs.restore).p99;
  const managerP99 = s(opens.managerUse).p99;
  const startupMax = Math.max(...big.read);
  const targetsTable = markdownTable(
    ['metric', 'target', 'measured', 'result'],
    [
      [`warm → hot p99, ${N} resources (manager, to first read)`, `< ${TARGETS.openP99Ms} ms`, `${r1(managerP99)} ms`, verdict(managerP99 < TARGETS.openP99Ms)],
      [`cold → hot p99, ${N} resources (request to answer)`, `< ${TARGETS.restoreP99Ms} ms`, `${r1(restoreP99)} ms`, verdict(restoreP99 < TARGETS.restoreP99Ms)],
      [`start-up with ${many.tenants} tenants to first read (slowest of ${big.read.length})`, `< ${TARGETS.startupMs} ms`, `${r1(startupMax)} ms`, verdict(startupMax < TARGETS.startupMs)],
      ['writes held by a snapshot (p50, no other writes)', '—', `${r1(held.p50)} ms`, '—'],
    ],
  );

  const table = [
    '### Tenants benchmark',
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}; load average ${machine.loadavg[0]} at start; ${seconds.toFixed(0)} s in all. ` +
      `A tenant of ${N} resources (384-dim precomputed embeddings, written in ${opens.ingestSeconds.toFixed(1)} s); nats-server, s3rver and both nodes on loopback.`,
    '',
    openTable,
    '',
    `Cold → hot: ${RESTORES} rounds; each round: offload on A, ${rest.opsPerRound} resources written on B, then a read on A of the last of them; archive ${(rest.archiveBytes / MiB).toFixed(1)} MiB.`,
    '',
    restoreTable,
    '',
    snapTable,
    '',
    sizeTable,
    '',
    manyTable,
    '',
    startupTable,
    '',
    targetsTable,
  ].join('\n');

  writeResults(args.quick ? 'tenants-quick' : 'tenants', {
    meta: {
      machine,
      seconds: r1(seconds),
      resources: N,
      tenants: TENANTS,
      opens: OPENS,
      restores: RESTORES,
      ingest_seconds: r1(opens.ingestSeconds),
      tenant_size_bytes: opens.sizeBytes,
      open: Object.fromEntries(
        (['classicOpen', 'classicClose', 'storeOpen', 'storeClose', 'managerUse', 'managerOpenEvent', 'managerClose'] as const).map((k) => [k, roundSummary(opens[k])]),
      ),
      restore: {
        archive_bytes: rest.archiveBytes,
        ops_per_round: rest.opsPerRound,
        first_on_b_ms: r3(rest.firstOnB),
        ...Object.fromEntries(
          (['asIs'] as const).map((g) => [
            g,
            {
              replayed: rest[g].replayed,
              ...Object.fromEntries((['offload', 'restore', 'fetch', 'replay', 'baseline'] as const).map((k) => [k, roundSummary(rest[g][k])])),
            },
          ]),
        ),
      },
      snapshot: {
        writes: snap.writes,
        size_bytes: snap.sizeBytes,
        archive_bytes: snap.archiveBytes,
        plain_bytes: snap.plainBytes,
        attempts: snap.attempts,
        loaded_attempts: snap.loadedAttempts,
        back_to_back: { attempts: snap.hardAttempts, failures: snap.hardFailures, writes: snap.hardWrites, seconds: r1(snap.hardSeconds), whole: roundSummary(snap.hardWhole), held: roundSummary(snap.hardHeld), failed_ms: snap.hardFailedMs.map(r3) },
        ...Object.fromEntries(
          (['held', 'copy', 'digest', 'upload', 'whole', 'operation', 'plain', 'loadedWhole', 'loadedHeld', 'loadedOperation', 'writesIdle', 'writesDuring'] as const).map((k) => [k, roundSummary(snap[k])]),
        ),
      },
      many: {
        tenants: many.tenants,
        create_seconds: r1(many.createSeconds),
        create_fds_max: many.createFdsMax,
        disk: many.disk,
        catalog_disk: many.catalogDisk,
        probe: many.probe,
        rss_per_hot_bytes: Math.round(rssPerHot),
        estimate_per_hot_bytes: Math.round(estPerHot),
        fds_per_hot: r3(fdsPerHot),
        startup: many.startup.map((r) => ({ ...r, ready: r.ready.map(r3), read: r.read.map(r3) })),
      },
      targets: TARGETS,
    },
    rows: [
      { metric: 'open_p99_ms', value: r3(managerP99) },
      { metric: 'restore_p99_ms', value: r3(restoreP99) },
      { metric: 'startup_read_max_ms', value: r3(startupMax) },
      { metric: 'snapshot_held_p50_ms', value: r3(held.p50) },
    ],
    table,
  });
}

function roundSummary(v: readonly number[]): Record<string, number> {
  const x = summary(v);
  return { n: x.n, p50: r3(x.p50), p99: r3(x.p99), mean: r3(x.mean), max: r3(x.max) };
}

const probeSpec = process.env[PROBE_ENV];
const probeArgs = probeSpec ? (JSON.parse(probeSpec) as { dataDir: string; tenants: number }) : undefined;
const entry = probeArgs ? probe(probeArgs.dataDir, probeArgs.tenants) : main();
entry.then(
  // the services end with process.exit too: hnswlib wrappers are not destroyed on the way out (shared/index/hnsw-pool.ts)
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

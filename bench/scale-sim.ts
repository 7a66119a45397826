// Scale simulation: the sync stream, the placement and the tenant lifecycle of a cluster of 3, 30 and 100 nodes
// serving 1M tenants, simulated, under today's full replication, under "apply only what this node holds" (the
// lifecycle issue), and with sync subjects partitioned so a node reads only its partitions (the next step).
// Baseline: the full scenario at the same node count, in the same run.
//
//   npm run bench:scale-sim                        # 1M tenants, 24 h, 3/30/100 nodes (under a minute)
//   npm run bench:scale-sim -- --quick             # 100k tenants, 6 h (seconds)
//   npm run bench:scale-sim -- --nodes 3,10,30 --writes-per-s 2000 --zipf 1.2 --hours 12
//
// Requests and writes go to tenants by a Zipf law over their popularity ranks; each tenant's own Poisson streams of
// requests and writes drive its lifecycle (bench/lib/scale-sim-lifecycle.ts) with the code's defaults (read from
// shared/config); placement is a consistent-hash ring (bench/lib/scale-sim-ring.ts); per-node sums per scenario in
// bench/lib/scale-sim-placement.ts. Two numbers are measured in the run (bench/lib/scale-sim-receive.ts): the size
// of one op on the wire, and how many ops per second a node's replication applier receives, decodes, drops and
// acknowledges when it holds none of their tenants (a local nats-server, the real stream, consumer and applier).
// The apply capacity is the README's measured catch-up rate (Performance > Replication). A node passes when its
// applied ops over the apply capacity plus its dropped ops over the drop rate stay at most 1.
import { loadConfig } from '../shared/config/config.js';
import { LIFECYCLE_DEFAULTS } from '../shared/store/tenant-manager.js';
import { readArgs } from '../scripts/cli-args.js';
import { simulateTenants, type LifecycleParams, type WorkloadParams } from './lib/scale-sim-lifecycle.js';
import { SCENARIOS, addNode, nodeLoads, type AddNodeResult, type NodeLoad, type PlacementOptions, type Scenario } from './lib/scale-sim-placement.js';
import { measureDropRate, representativeOp } from './lib/scale-sim-receive.js';
import { hash32 } from './lib/scale-sim-ring.js';
import { log, machineInfo, markdownTable, writeResults, type Cell } from './report.js';

// ------------------------------------------------------------------------------------ measured elsewhere (cited)

/** README Performance > Replication: a stopped node caught up 100,000 documents at 2,779/s (graphs on demand: LevelDB-bound). */
const APPLY_CAPACITY_PER_S_DEFAULT = 2779;
/** bench:tenants (README Performance > Tenant lifecycle): 51.3 MiB on disk for 14,201 resources with 384-dim vectors. */
const RECORD_BYTES = Math.round((51.3 * 2 ** 20) / 14_201);
/** bench:tenants: the snapshot archive (gzip level 1) is 0.83 of the tenant on disk. */
const SNAPSHOT_RATIO = 0.83;
/** bench:tenants: 72 KiB allocated per small tenant (2 resources, an entity and a moment; 11 files). */
const TENANT_BASE_BYTES = 72 * 1024;
/** bench:tenants: 7.76 MiB of RSS per hot tenant (its graphs and caches, before any data). */
const HOT_TENANT_BYTES = 7.76 * 2 ** 20;
/** k8s/overlays/small: PERCOLATE_TENANTS_DISK_BYTES_MAX of the small tier (80 % of its 50 Gi volume). */
const DISK_BUDGET_BYTES = 42_949_672_960;
/** The window after a node is added in which its restores are counted. */
const ADD_WINDOW_S = 3600;
/** Resolution for busy tenants (and of "steps used", each at least one open outside the hot set). */
const STEP_S = 60;

// ------------------------------------------------------------------------------------------------------ arguments

interface Args {
  quick: boolean;
  tenants: number;
  nodes: number[];
  hours: number;
  writesPerS: number;
  readsPerS: number;
  zipf: number;
  seed: number;
  applyCapacityPerS: number;
  receiveCapacityPerS?: number;
  historyDays: number;
  replicas: number;
  partitions: number;
  vnodes: number;
}

const USAGE =
  '--quick, --tenants N, --nodes a,b,c, --hours H, --writes-per-s W, --reads-per-s R, --zipf S, --seed N, --apply-capacity-per-s N, ' +
  '--receive-capacity-per-s N, --history-days D, --replicas R, --partitions P, --vnodes V';

function parseOptions(argv: readonly string[] = process.argv.slice(2)): Args {
  const names = ['tenants', 'nodes', 'hours', 'writes-per-s', 'reads-per-s', 'zipf', 'seed', 'apply-capacity-per-s', 'receive-capacity-per-s', 'history-days', 'replicas', 'partitions', 'vnodes'] as const;
  const options = Object.fromEntries([['quick', { type: 'boolean' }], ...names.map((n) => [n, { type: 'string' }])]) as Record<string, { type: 'boolean' | 'string' }>;
  const unknown = (raw: string) => new Error(`unknown argument '${raw}' (expected ${USAGE})`);
  const given = new Map<string, string | undefined>();
  let quick = false;
  for (const a of readArgs(argv, options, unknown)) {
    if (a.kind === 'positional') throw unknown(a.raw);
    if (a.name === 'quick') quick = true;
    else given.set(a.name, a.value);
  }
  const num = (name: string, fallback: number, check: (n: number) => boolean, what: string): number => {
    if (!given.has(name)) return fallback;
    const raw = given.get(name);
    const n = Number(raw);
    if (raw === undefined || raw === '' || !Number.isFinite(n) || !check(n)) throw new Error(`--${name} needs ${what}, got '${raw ?? ''}'`);
    return n;
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const nodesRaw = given.get('nodes') ?? '3,30,100';
  const nodes = nodesRaw.split(',').map(Number);
  if (nodes.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000)) throw new Error(`--nodes needs node counts from 1 to 10000 separated by commas, got '${nodesRaw}'`);
  const decode = given.has('receive-capacity-per-s') ? num('receive-capacity-per-s', 0, (n) => n > 0, 'a positive number') : undefined;
  return {
    quick,
    tenants: num('tenants', quick ? 100_000 : 1_000_000, (n) => positiveInt(n) && n <= 10_000_000, 'a whole number from 1 to 10000000'),
    nodes: [...new Set(nodes)].sort((a, b) => a - b),
    hours: num('hours', quick ? 6 : 24, (n) => positiveInt(n) && n <= 24 * 30, 'whole hours from 1 to 720'),
    writesPerS: num('writes-per-s', 10_000, (n) => n > 0, 'a positive number'),
    readsPerS: num('reads-per-s', 10_000, (n) => n >= 0, 'a number >= 0'),
    zipf: num('zipf', 1.0, (n) => n >= 0 && n <= 5, 'an exponent from 0 to 5'),
    seed: num('seed', 20_261_201, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'a whole number below 2^32'),
    applyCapacityPerS: num('apply-capacity-per-s', APPLY_CAPACITY_PER_S_DEFAULT, (n) => n > 0, 'a positive number'),
    ...(decode !== undefined ? { receiveCapacityPerS: decode } : {}),
    historyDays: num('history-days', 7, (n) => n >= 0 && n <= 3650, 'days from 0 to 3650'),
    replicas: num('replicas', 3, (n) => positiveInt(n) && n <= 16, 'a whole number from 1 to 16'),
    partitions: num('partitions', 1024, (n) => positiveInt(n) && n <= 1_000_000, 'a whole number from 1 to 1000000'),
    vnodes: num('vnodes', 128, (n) => positiveInt(n) && n <= 4096, 'a whole number from 1 to 4096'),
  };
}

// --------------------------------------------------------------------------------------------------------- report

const GiB = 2 ** 30;
const MB = 1e6;
const maxOf = (a: ArrayLike<number>) => {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, a[i]!);
  return m;
};
const meanOf = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
};
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(a / b >= 100 ? 0 : 2)}x` : '—');
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Row {
  scenario: Scenario;
  nodes: number;
  load: NodeLoad;
  /** Per node: applies over the apply capacity plus drops over the drop rate (1 = the node's whole capacity). */
  nodeLoad: Float64Array;
  add: AddNodeResult;
}

async function main(): Promise<void> {
  const args = parseOptions();
  const started = performance.now();
  // the code's defaults (no environment read: an explicit, empty configuration)
  const cfg = loadConfig({ PERCOLATE_AUTH: 'off' });
  const lc = cfg.lifecycle;
  const sweepSnapshotsPerS = LIFECYCLE_DEFAULTS.sweepColdMax / (lc.sweepIntervalMs / 1000);
  const life: LifecycleParams = {
    idleWarmS: lc.idleWarmMs / 1000,
    idleColdS: lc.idleColdMs / 1000,
    snapshotIntervalS: lc.snapshotIntervalMs / 1000,
    recordsMax: cfg.quotas.recordsMax,
    recordBytes: RECORD_BYTES,
    tenantBaseBytes: TENANT_BASE_BYTES,
    snapshotRatio: SNAPSHOT_RATIO,
    stepS: STEP_S,
  };
  const measuredS = args.hours * 3600;
  const work: WorkloadParams = {
    tenants: args.tenants,
    zipf: args.zipf,
    writesPerS: args.writesPerS,
    readsPerS: args.readsPerS,
    measuredS,
    warmupS: Math.ceil(life.snapshotIntervalS / STEP_S) * STEP_S,
    windowS: ADD_WINDOW_S,
    historyS: args.historyDays * 86_400,
    seed: args.seed,
  };

  const opBytes = Buffer.byteLength(await representativeOp('tenant-0123456'));
  const receiveOps = args.quick ? 5_000 : 20_000;
  const drop = args.receiveCapacityPerS
    ? undefined
    : await measureDropRate(
        { ops: receiveOps, tenants: 100, inflightMax: cfg.syncInflightMax, maxDeliver: cfg.syncMaxDeliver, ackWaitMs: cfg.syncAckWaitMs, syncMaxAgeMs: cfg.syncMaxAgeMs, jsonDepthMax: cfg.jsonDepthMax },
        args.quick ? 1 : 3,
        log,
      );
  const receiveRate = args.receiveCapacityPerS ?? drop!.opsPerS;
  log(`one op ${opBytes} bytes on the wire; a node drops ${Math.round(receiveRate)} ops/s${drop ? ` (measured: median of ${drop.rounds.map((r) => Math.round(r)).join(', ')})` : ' (given)'}`);

  log(`simulating ${args.tenants} tenants for ${args.hours} h (+${work.warmupS / 3600} h warm-up, +${ADD_WINDOW_S / 3600} h after a node is added)`);
  const tSim = performance.now();
  const totals = simulateTenants(work, life, (done) => log(`  ${done} tenants`));
  const simSeconds = (performance.now() - tSim) / 1000;
  const tenantHash = new Uint32Array(args.tenants);
  for (let i = 0; i < args.tenants; i++) tenantHash[i] = hash32(`tenant-${i}`, args.seed);
  let writesMeasured = 0;
  for (let i = 0; i < args.tenants; i++) writesMeasured += totals.writes[i]!;
  log(`simulated in ${simSeconds.toFixed(1)} s: ${Math.round(writesMeasured)} writes in the measured window`);

  const rows: Row[] = [];
  for (const n of args.nodes) {
    const o: PlacementOptions = { nodes: n, vnodes: args.vnodes, seed: args.seed, partitions: args.partitions, replicas: args.replicas, openMax: cfg.tenantsOpenMax, snapshotRatio: SNAPSHOT_RATIO };
    for (const scenario of SCENARIOS) {
      const load = nodeLoads(scenario, totals, tenantHash, o);
      const nodeLoad = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const applied = load.taken[k]! + load.streamApplied[k]!;
        const droppedOps = load.received[k]! - load.streamApplied[k]!;
        nodeLoad[k] = (applied / args.applyCapacityPerS + droppedOps / receiveRate) / measuredS;
      }
      rows.push({ scenario, nodes: n, load, nodeLoad, add: addNode(scenario, totals, tenantHash, o) });
    }
    log(`${n} nodes: placed`);
  }

  // ---- tables
  const perS = (x: number) => x / measuredS;
  const base = (r: Row) => rows.find((b) => b.nodes === r.nodes && b.scenario === 'full')!;
  const applied = (l: NodeLoad) => Float64Array.from(l.taken, (t, k) => t + l.streamApplied[k]!);
  const dropped = (l: NodeLoad) => Float64Array.from(l.received, (x, k) => x - l.streamApplied[k]!);
  const sustainable = (r: Row) => args.writesPerS / maxOf(r.nodeLoad);

  const streamTable = markdownTable(
    ['scenario', 'nodes', 'received ops/s max', 'received ops/s mean', 'applied ops/s max', 'applied ops/s mean', 'of which writes taken max', 'dropped ops/s max', 'node load max', 'result', 'received × full', 'applied max × full', 'cluster writes/s at load 1'],
    rows.map((r) => {
      const b = base(r);
      return [
        r.scenario,
        r.nodes,
        perS(maxOf(r.load.received)),
        perS(meanOf(r.load.received)),
        perS(maxOf(applied(r.load))),
        perS(meanOf(applied(r.load))),
        perS(maxOf(r.load.taken)),
        perS(maxOf(dropped(r.load))),
        maxOf(r.nodeLoad),
        verdict(maxOf(r.nodeLoad) <= 1),
        ratio(meanOf(r.load.received), meanOf(b.load.received)),
        ratio(maxOf(applied(r.load)), maxOf(applied(b.load))),
        Math.round(sustainable(r)),
      ] as Cell[];
    }),
  );

  const storageTable = markdownTable(
    ['scenario', 'nodes', 'disk GiB max', 'disk GiB mean', `disk ≤ ${DISK_BUDGET_BYTES / GiB} GiB`, 'disk × full', 'hot wanted max', 'held max', 'opens/s max (at least)', 'snapshots/s max', `snapshots ≤ ${sweepSnapshotsPerS}/s`, 'snapshot MB/s max', 'snapshot MB/s × full', 'restores/s max', 'restore MB/s max', 'NATS egress MB/s (cluster)'],
    rows.map((r) => {
      const b = base(r);
      const diskMax = maxOf(r.load.diskBytes);
      const snapsMax = perS(maxOf(r.load.snapshots));
      return [
        r.scenario,
        r.nodes,
        diskMax / GiB,
        meanOf(r.load.diskBytes) / GiB,
        verdict(diskMax <= DISK_BUDGET_BYTES),
        ratio(meanOf(r.load.diskBytes), meanOf(b.load.diskBytes)),
        maxOf(r.load.hotWanted),
        maxOf(r.load.held),
        perS(maxOf(r.load.opens)),
        snapsMax,
        verdict(snapsMax <= sweepSnapshotsPerS),
        perS(maxOf(r.load.snapshotBytes)) / MB,
        ratio(meanOf(r.load.snapshotBytes), meanOf(b.load.snapshotBytes)),
        perS(maxOf(r.load.restores)),
        perS(maxOf(r.load.restoreBytes)) / MB,
        (perS(meanOf(r.load.received)) * r.nodes * opBytes) / MB,
      ] as Cell[];
    }),
  );

  const addTable = markdownTable(
    ['scenario', 'nodes → nodes + 1', 'tenants moved', 'moved %', 'expected 1/(N+1) %', 'moved / expected', 'moved, used in the next hour', 'tenants the new node restores', 'restore GiB in that hour', 'restore MB/s', 'restore × full'],
    rows.map((r) => {
      const b = base(r);
      const expected = 1 / (r.nodes + 1);
      const share = r.add.moved / args.tenants;
      return [
        r.scenario,
        `${r.nodes} → ${r.nodes + 1}`,
        r.add.moved,
        share * 100,
        expected * 100,
        share / expected,
        r.add.movedUsed,
        r.add.restored,
        r.add.restoreBytes / GiB,
        r.add.restoreBytes / ADD_WINDOW_S / MB,
        ratio(r.add.restoreBytes, b.add.restoreBytes),
      ] as Cell[];
    }),
  );

  // ---- where it stops
  const top = totals.writes[0]! / writesMeasured;
  let totalDataBytes = 0;
  for (let i = 0; i < args.tenants; i++) totalDataBytes += totals.sizeBytes[i]!;
  const W = args.writesPerS;
  const cap = args.applyCapacityPerS;
  const fmt = (x: number) => Math.round(x).toLocaleString('en');
  const byScenario = (s: Scenario) => rows.filter((r) => r.scenario === s);
  const loads = (s: Scenario) => byScenario(s).map((r) => `${maxOf(r.nodeLoad).toFixed(2)} at ${r.nodes} (${verdict(maxOf(r.nodeLoad) <= 1)})`).join(', ');
  const largest = (s: Scenario) => byScenario(s).at(-1)!;
  const smallest = rows[0]!.nodes;
  // ceilings as nodes grow: what no node count removes
  const ceilFull = cap;
  const ceilLifecycle = 1 / (top / cap + 1 / receiveRate);
  const ceilPartitioned = cap / top;
  const lp = largest('partitioned');
  const ll = largest('lifecycle');
  const minDiskRow = rows.reduce((a, b) => (maxOf(b.load.diskBytes) < maxOf(a.load.diskBytes) ? b : a));
  const stops = [
    `- **full**: every node receives the whole stream (${fmt(W)} ops/s at every node count) and applies nearly all of it: node load ${loads('full')}. ` +
      `Received ops/s per node exceed the apply capacity (${fmt(cap)}/s) ${W > cap ? `from the smallest cluster simulated (${smallest} nodes) on` : 'at no node count'}, and adding nodes does not help: ` +
      `the ceiling is about ${fmt(ceilFull)} cluster writes/s, whatever the node count.`,
    `- **lifecycle**: node load ${loads('lifecycle')}. Every node still receives the whole stream and drops what it does not hold (${fmt(receiveRate)} drops/s per node): ` +
      `as nodes are added the ceiling is ${fmt(ceilLifecycle)} cluster writes/s (every node drops the whole stream, and the hottest tenant's node applies its ${(top * 100).toFixed(1)} % too), ` +
      `and NATS sends every op to every node (${fmt((perS(meanOf(ll.load.received)) * ll.nodes * opBytes) / MB)} MB/s at ${ll.nodes} nodes).`,
    `- **partitioned**: node load ${loads('partitioned')}. A node receives ${((meanOf(lp.load.received) / writesMeasured) * 100).toFixed(1)} % of the stream on average at ${lp.nodes} nodes ` +
      `(R/N = ${((Math.min(args.replicas, lp.nodes) / lp.nodes) * 100).toFixed(1)} %), the busiest ${((maxOf(lp.load.received) / writesMeasured) * 100).toFixed(1)} %; ` +
      `the ceiling as nodes grow is ${fmt(ceilPartitioned)} cluster writes/s: the hottest tenant's writes are applied on each of its partition's nodes.`,
    `- **disk**: the tenants hold ${(totalDataBytes / 2 ** 40).toFixed(1)} TiB at the end; the smallest per-node need is ${(maxOf(minDiskRow.load.diskBytes) / GiB).toFixed(0)} GiB ` +
      `(${minDiskRow.scenario}, ${minDiskRow.nodes} nodes) against a ${DISK_BUDGET_BYTES / GiB} GiB budget: held once (lifecycle) that is at least ${fmt(Math.ceil(totalDataBytes / DISK_BUDGET_BYTES))} nodes, ` +
      `${Math.min(args.replicas, lp.nodes)} times that partitioned; full replication holds everything on every node.`,
    `- **snapshots**: a tenant written within an hour is snapshotted whole: ${perS(maxOf(ll.load.snapshots)).toFixed(2)} snapshots/s and ${fmt(perS(maxOf(ll.load.snapshotBytes)) / MB)} MB/s ` +
      `on the busiest node (lifecycle, ${ll.nodes} nodes) against the sweeper's ${sweepSnapshotsPerS}/s; full replication uploads the same snapshots from every node.`,
    `- **hot set**: the busiest node has ${fmt(maxOf(ll.load.hotWanted))} tenants used within ${life.idleWarmS / 60} minutes (lifecycle, ${ll.nodes} nodes; ${fmt(maxOf(largest('full').load.hotWanted))} in full) ` +
      `against PERCOLATE_TENANTS_OPEN_MAX ${cfg.tenantsOpenMax}: at least ${fmt(perS(maxOf(ll.load.opens)))} warm → hot opens/s.`,
  ];

  const assumptions = [
    `${args.tenants.toLocaleString('en')} tenants; Zipf exponent ${args.zipf} over their ranks for ${args.readsPerS.toLocaleString('en')} requests/s and ${args.writesPerS.toLocaleString('en')} writes/s ` +
      `(one record per write, so one op per write); the most popular tenant takes ${(top * 100).toFixed(2)} % of the writes.`,
    `${args.hours} h measured after ${work.warmupS / 3600} h of warm-up (step ${STEP_S} s for busy tenants, exact event times for the others; seed ${args.seed}). ` +
      `Nodes started one idle-cold age before: replicas hold the tenants written since, and have never seen the others.`,
    `Lifecycle defaults from shared/config: idle-warm ${life.idleWarmS} s, idle-cold ${life.idleColdS} s, interval snapshots after ${life.snapshotIntervalS} s, ` +
      `PERCOLATE_TENANTS_OPEN_MAX ${cfg.tenantsOpenMax}, at most ${LIFECYCLE_DEFAULTS.sweepColdMax} snapshots or offloads per ${lc.sweepIntervalMs / 1000} s sweep (${sweepSnapshotsPerS}/s per node), ` +
      `PERCOLATE_QUOTA_RECORDS_MAX ${cfg.quotas.recordsMax.toLocaleString('en')} records per tenant.`,
    `Tenant size: ${Math.round(TENANT_BASE_BYTES / 1024)} KiB + ${RECORD_BYTES} bytes per record on disk, snapshot ${SNAPSHOT_RATIO} of that (bench:tenants); ` +
      `each tenant starts with ${args.historyDays} days of its own writes. Disk budget ${DISK_BUDGET_BYTES / GiB} GiB (small tier); no disk-budget demotion is simulated: disk is what the node would hold.`,
    `Measured in this run: one op is ${opBytes} bytes (a 1,000-character chunk with a 384-dim vector); a node's applier receives, decodes, drops and acknowledges ` +
      `${Math.round(receiveRate).toLocaleString('en')} of them per second, the receive capacity` +
      `${drop ? ` (median of ${drop.rounds.length} consumers reading ${drop.ops.toLocaleString('en')} ops from a local nats-server sharing the machine: ${drop.rounds.map((r) => Math.round(r).toLocaleString('en')).join(', ')}/s; no tenant held)` : ' (given by --receive-capacity-per-s)'}. Apply capacity ${args.applyCapacityPerS.toLocaleString('en')} ops/s per node` +
      `${args.applyCapacityPerS === APPLY_CAPACITY_PER_S_DEFAULT ? ' (README Performance > Replication: catch-up of documents)' : ' (given)'}; a write a node takes counts as one apply.`,
    `Ring: ${args.vnodes} points per node (FNV-1a + murmur3 finaliser); partitioned: ${args.partitions} partitions on ${args.replicas} nodes each, requests routed by partition.`,
    `Opens are a lower bound: a node's hot set is its ${cfg.tenantsOpenMax} most popular tenants, and any other tenant costs one warm → hot open per ${STEP_S} s step it is used in. ` +
      `Hot wanted: tenants used within the idle-warm age at the end (${(HOT_TENANT_BYTES / 2 ** 20).toFixed(2)} MiB of memory each when hot, bench:tenants).`,
  ];

  const seconds = (performance.now() - started) / 1000;
  const machine = machineInfo();
  const table = [
    `### Scale simulation${args.quick ? ' (quick)' : ''}`,
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}; load average ${machine.loadavg[0]} at start; ${seconds.toFixed(0)} s in all (simulation ${simSeconds.toFixed(0)} s). ` +
      `Per-node figures are over the ${args.hours} h measured; "max" is the busiest node, "mean" the average node; "× full" compares with full replication at the same node count.`,
    '',
    '**Stream and apply** (applied = writes taken as owner + ops applied from the stream; dropped = received but not applied, a node\'s own ops included; node load = applied / apply capacity + dropped / receive capacity; PASS ≤ 1)',
    '',
    streamTable,
    '',
    '**Disk, presence, snapshots, restores** (disk and presence at the end of the window)',
    '',
    storageTable,
    '',
    `**Adding a node** (node N joins at the end of the window; restores counted over the hour after)`,
    '',
    addTable,
    '',
    '**Where it stops**',
    '',
    ...stops,
    '',
    '**Assumptions**',
    '',
    ...assumptions.map((a) => `- ${a}`),
  ].join('\n');

  writeResults(args.quick ? 'scale-sim-quick' : 'scale-sim', {
    meta: {
      machine,
      seconds: r3(seconds),
      simulation_seconds: r3(simSeconds),
      args,
      measured: { op_bytes: opBytes, drop_ops_per_s: Math.round(receiveRate), drop_run: drop ?? null },
      lifecycle: life,
      open_max: cfg.tenantsOpenMax,
      sweep_snapshots_per_s: sweepSnapshotsPerS,
      disk_budget_bytes: DISK_BUDGET_BYTES,
      hot_tenant_bytes: HOT_TENANT_BYTES,
      writes_measured: writesMeasured,
      top_tenant_write_share: top,
    },
    rows: rows.map((r) => {
      const a = applied(r.load);
      const summary = (x: ArrayLike<number>, scale = 1) => ({ max: r3(maxOf(x) * scale), mean: r3(meanOf(x) * scale) });
      return {
        scenario: r.scenario,
        nodes: r.nodes,
        received_per_s: summary(r.load.received, 1 / measuredS),
        applied_per_s: summary(a, 1 / measuredS),
        taken_per_s: summary(r.load.taken, 1 / measuredS),
        stream_applied_per_s: summary(r.load.streamApplied, 1 / measuredS),
        dropped_per_s: summary(dropped(r.load), 1 / measuredS),
        node_load: summary(r.nodeLoad),
        sustainable_writes_per_s: Math.round(sustainable(r)),
        disk_bytes: summary(r.load.diskBytes),
        hot_wanted: summary(r.load.hotWanted),
        held: summary(r.load.held),
        opens_per_s: summary(r.load.opens, 1 / measuredS),
        snapshots_per_s: summary(r.load.snapshots, 1 / measuredS),
        snapshot_bytes_per_s: summary(r.load.snapshotBytes, 1 / measuredS),
        restores_per_s: summary(r.load.restores, 1 / measuredS),
        restore_bytes_per_s: summary(r.load.restoreBytes, 1 / measuredS),
        nats_egress_bytes_per_s: r3(perS(meanOf(r.load.received)) * r.nodes * opBytes),
        add_node: r.add,
      };
    }),
    table,
  });
  log(`done in ${seconds.toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

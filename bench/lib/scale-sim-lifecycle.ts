// The tenant lifecycle of the scale simulation (bench/scale-sim.ts), one tenant at a time, as the code does it
// (shared/store/tenant-manager.ts, shared/replication/applier.ts):
//
//   owner    the node the ring routes the tenant's requests and writes to. Hot while used within the idle-warm age,
//            warm until the idle-cold age, then offloaded (a snapshot upload, even when clean) and cold; the next
//            request restores it (a snapshot download).
//   replica  any other node reading the tenant's sync subject (every node today). The applier's lease is an access
//            and a write (useReplicated: touch, create): a tenant it never saw is restored and then applied, one it
//            holds is applied (and made hot), one it holds cold is skipped. Idle (no op) for the idle-cold age it is
//            offloaded like on the owner, and from then on its ops are dropped.
//   snapshot every node holding the tenant snapshots it once its writes are an interval old (the sweep's interval
//            snapshots of tenants marked dirty, on the owner and on every replica alike).
//
// Everything is lazy: a demotion or an interval snapshot is counted when the next event (or the end of the run)
// shows its time has passed, so a tenant costs what its events cost. Times are seconds; the measured window is
// [0, measuredS), preceded by a warm-up (so interval snapshots are in their steady rhythm) and followed by a window
// in which only "was it used, was it written" is recorded (the hour after a node is added).
import { Mulberry32, exponential, poisson, tenantSeed, zipfProbabilities } from './scale-sim-workload.js';

export interface LifecycleParams {
  /** PERCOLATE_TENANT_IDLE_WARM_S: hot → warm after this long without a request (or, on a replica, an op). */
  idleWarmS: number;
  /** PERCOLATE_TENANT_IDLE_COLD_S: warm → cold (offloaded) after this long. */
  idleColdS: number;
  /** PERCOLATE_SNAPSHOT_INTERVAL_S: a tenant's writes are snapshotted once they are this old. */
  snapshotIntervalS: number;
  /** PERCOLATE_QUOTA_RECORDS_MAX: a tenant's records stop growing here (later writes replace records). */
  recordsMax: number;
  /** Local disk per record (LevelDB record, vector, indexes and graph). */
  recordBytes: number;
  /** Local disk of a tenant with (almost) nothing in it. */
  tenantBaseBytes: number;
  /** Snapshot archive bytes per byte on local disk. */
  snapshotRatio: number;
  /** Resolution of the simulation for busy tenants, and of "minutes used" (at least one open per one of them). */
  stepS: number;
}

export interface WorkloadParams {
  tenants: number;
  zipf: number;
  writesPerS: number;
  readsPerS: number;
  /** The measured window [0, measuredS). */
  measuredS: number;
  /** Simulated before the measured window (a multiple of stepS). */
  warmupS: number;
  /** Simulated after it: only whether each tenant is used and written (the window after a node is added). */
  windowS: number;
  /** Writes every tenant already holds at the start, as this many seconds of its own write rate. */
  historyS: number;
  seed: number;
}

const UNSEEN = 0;
const HELD = 1;
const COLD = 2;

/** End-of-run presence bits (TenantTotals.flags). */
export const OWNER_HELD = 1;
export const OWNER_HOT = 2;
export const REPLICA_HELD = 4;
export const REPLICA_HOT = 8;
export const WINDOW_USED = 16;
export const WINDOW_WRITTEN = 32;

/** One tenant's lifecycle on its owner and on a replica (every replica sees the same ops, so one stands for all). */
export class TenantLifecycle {
  lastAccess = 0;
  lastWrite = 0;
  /** When the writes the latest snapshot does not cover began (NaN: clean). */
  dirtySince = NaN;
  replica = UNSEEN;
  records = 0;
  private lastStep = -1;
  private lastWriteStep = -1;
  private finished = false;

  // measured window
  writes = 0;
  /** Steps with a request or write (owner): each is at least one open when the tenant is not in the hot set. */
  usedSteps = 0;
  /** Steps with an op applied on a replica. */
  writtenSteps = 0;
  ownerIdleOpens = 0;
  ownerRestores = 0;
  ownerRestoreBytes = 0;
  ownerSnapshots = 0;
  ownerSnapshotBytes = 0;
  replicaApplied = 0;
  replicaIdleOpens = 0;
  replicaRestores = 0;
  replicaRestoreBytes = 0;
  replicaSnapshots = 0;
  replicaSnapshotBytes = 0;
  flags = 0;

  constructor(
    private readonly p: LifecycleParams,
    private readonly measuredS: number,
  ) {}

  /** A tenant last used at `lastAccess`, last written at `lastWrite`, holding `records`; `replicaHeld` as the replicas see it. */
  start(lastAccess: number, lastWrite: number, replicaHeld: boolean, records: number): void {
    this.lastAccess = lastAccess;
    this.lastWrite = lastWrite;
    this.dirtySince = NaN;
    this.replica = replicaHeld ? HELD : UNSEEN;
    this.records = Math.min(this.p.recordsMax, records);
    this.lastStep = -1;
    this.lastWriteStep = -1;
    this.finished = false;
    this.writes = this.usedSteps = this.writtenSteps = 0;
    this.ownerIdleOpens = this.ownerRestores = this.ownerRestoreBytes = this.ownerSnapshots = this.ownerSnapshotBytes = 0;
    this.replicaApplied = this.replicaIdleOpens = this.replicaRestores = this.replicaRestoreBytes = this.replicaSnapshots = this.replicaSnapshotBytes = 0;
    this.flags = 0;
  }

  sizeBytes(): number {
    return this.p.tenantBaseBytes + this.records * this.p.recordBytes;
  }

  snapshotBytes(): number {
    return this.sizeBytes() * this.p.snapshotRatio;
  }

  /** The interval snapshot due by `t` (owner, and each replica holding the tenant), if any. */
  private intervalSnapshot(t: number): void {
    const due = this.dirtySince + this.p.snapshotIntervalS;
    if (!(due <= t)) return; // NaN (clean) compares false
    if (due >= 0 && due < this.measuredS) {
      const b = this.snapshotBytes();
      this.ownerSnapshots++;
      this.ownerSnapshotBytes += b;
      // a replica cannot have gone cold since: its last op is younger than the snapshot interval, and so than idle-cold
      if (this.replica === HELD) {
        this.replicaSnapshots++;
        this.replicaSnapshotBytes += b;
      }
    }
    this.dirtySince = NaN;
  }

  /** The replica's offload, if its idle-cold age passed by `t`. */
  private replicaDemotion(t: number): void {
    if (this.replica !== HELD || t - this.lastWrite < this.p.idleColdS) return;
    const at = this.lastWrite + this.p.idleColdS;
    if (at >= 0 && at < this.measuredS) {
      this.replicaSnapshots++;
      this.replicaSnapshotBytes += this.snapshotBytes();
    }
    this.replica = COLD;
  }

  /** `writes` writes and `reads` reads of the tenant at time `t` (events come in time order). */
  event(t: number, writes: number, reads: number): void {
    if (writes + reads === 0) return;
    if (t >= this.measuredS) {
      if (!this.finished) this.finish();
      this.flags |= WINDOW_USED | (writes > 0 ? WINDOW_WRITTEN : 0);
      return;
    }
    const p = this.p;
    const measured = t >= 0;
    const step = Math.floor(t / p.stepS);
    this.intervalSnapshot(t);
    // owner: every request and write is an access
    const gap = t - this.lastAccess;
    if (gap >= p.idleColdS) {
      const offloadAt = this.lastAccess + p.idleColdS;
      if (offloadAt >= 0) {
        this.ownerSnapshots++;
        this.ownerSnapshotBytes += this.snapshotBytes();
      }
      this.dirtySince = NaN;
      if (measured) {
        this.ownerRestores++;
        this.ownerRestoreBytes += this.snapshotBytes();
      }
    } else if (gap >= p.idleWarmS && measured) this.ownerIdleOpens++;
    if (measured && step !== this.lastStep) this.usedSteps++;
    this.lastStep = step;
    this.lastAccess = t;
    if (writes === 0) return;
    // replicas: the op is applied unless the tenant went cold there
    this.replicaDemotion(t);
    if (this.replica !== COLD) {
      if (this.replica === UNSEEN) {
        if (measured) {
          this.replicaRestores++;
          this.replicaRestoreBytes += this.snapshotBytes();
        }
        this.replica = HELD;
      } else if (t - this.lastWrite >= p.idleWarmS && measured) this.replicaIdleOpens++;
      if (measured) {
        this.replicaApplied += writes;
        if (step !== this.lastWriteStep) this.writtenSteps++;
      }
      this.lastWriteStep = step;
    }
    this.records = Math.min(p.recordsMax, this.records + writes);
    if (Number.isNaN(this.dirtySince)) this.dirtySince = t;
    this.lastWrite = t;
    if (measured) this.writes += writes;
  }

  /** Closes the measured window: what came due by its end, and the presence at its end (flags). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const end = this.measuredS;
    const p = this.p;
    this.intervalSnapshot(end);
    if (end - this.lastAccess >= p.idleColdS) {
      const offloadAt = this.lastAccess + p.idleColdS;
      if (offloadAt >= 0 && offloadAt < end) {
        this.ownerSnapshots++;
        this.ownerSnapshotBytes += this.snapshotBytes();
      }
    } else {
      this.flags |= OWNER_HELD;
      if (end - this.lastAccess < p.idleWarmS) this.flags |= OWNER_HOT;
    }
    this.replicaDemotion(end);
    if (this.replica === HELD) {
      this.flags |= REPLICA_HELD;
      if (end - this.lastWrite < p.idleWarmS) this.flags |= REPLICA_HOT;
    }
  }
}

/** Per tenant (index = popularity rank), over the measured window. */
export interface TenantTotals {
  tenants: number;
  measuredS: number;
  writes: Float64Array;
  usedSteps: Float64Array;
  writtenSteps: Float64Array;
  ownerIdleOpens: Float64Array;
  ownerRestores: Float64Array;
  ownerRestoreBytes: Float64Array;
  ownerSnapshots: Float64Array;
  ownerSnapshotBytes: Float64Array;
  replicaApplied: Float64Array;
  replicaIdleOpens: Float64Array;
  replicaRestores: Float64Array;
  replicaRestoreBytes: Float64Array;
  replicaSnapshots: Float64Array;
  replicaSnapshotBytes: Float64Array;
  /** Local disk at the end of the measured window. */
  sizeBytes: Float64Array;
  /** OWNER_HELD | OWNER_HOT | REPLICA_HELD | REPLICA_HOT | WINDOW_USED | WINDOW_WRITTEN. */
  flags: Uint8Array;
}

const TOTAL_KEYS = [
  'writes',
  'usedSteps',
  'writtenSteps',
  'ownerIdleOpens',
  'ownerRestores',
  'ownerRestoreBytes',
  'ownerSnapshots',
  'ownerSnapshotBytes',
  'replicaApplied',
  'replicaIdleOpens',
  'replicaRestores',
  'replicaRestoreBytes',
  'replicaSnapshots',
  'replicaSnapshotBytes',
] as const;

/**
 * Simulates every tenant's requests, writes and lifecycle. At the start of the warm-up a tenant's last write and
 * last request are as long ago as a stationary Poisson stream makes them (exponential ages), and the nodes started
 * one idle-cold age before: a replica holds the tenants written since then and has never seen the others (a node
 * that ran longer would hold fewer: it skips the ops of tenants that once went idle for a day). `progress` is called
 * now and then with the tenants done.
 */
export function simulateTenants(w: WorkloadParams, p: LifecycleParams, progress?: (done: number) => void): TenantTotals {
  if (w.warmupS % p.stepS !== 0 || w.measuredS % p.stepS !== 0 || w.windowS % p.stepS !== 0) throw new Error('warm-up, measured window and window must be whole steps');
  const n = w.tenants;
  const probs = zipfProbabilities(n, w.zipf);
  const totals = { tenants: n, measuredS: w.measuredS, sizeBytes: new Float64Array(n), flags: new Uint8Array(n) } as TenantTotals;
  for (const k of TOTAL_KEYS) totals[k] = new Float64Array(n);
  const life = new TenantLifecycle(p, w.measuredS);
  const t0 = -w.warmupS;
  const end = w.measuredS + w.windowS;
  const dt = p.stepS;
  const steps = (end - t0) / dt;
  for (let i = 0; i < n; i++) {
    const rng = new Mulberry32(tenantSeed(w.seed, i));
    const writeRate = w.writesPerS * probs[i]!;
    const readRate = w.readsPerS * probs[i]!;
    const rate = writeRate + readRate;
    const lastWrite = writeRate > 0 ? t0 - exponential(rng, writeRate) : -Infinity;
    const lastRead = readRate > 0 ? t0 - exponential(rng, readRate) : -Infinity;
    life.start(Math.max(lastWrite, lastRead), lastWrite, t0 - lastWrite < p.idleColdS, Math.round(writeRate * w.historyS));
    if (rate * dt >= 1) {
      // busy: counts per step
      const writeMean = writeRate * dt;
      const readChance = 1 - Math.exp(-readRate * dt);
      for (let s = 0; s < steps; s++) {
        const nw = poisson(rng, writeMean);
        const nr = rng.next() < readChance ? 1 : 0;
        life.event(t0 + s * dt, nw, nr);
      }
    } else if (rate > 0) {
      // quiet: one event at a time, each a write with the writes' share of the rate
      const writeShare = writeRate / rate;
      for (let t = t0 + exponential(rng, rate); t < end; t += exponential(rng, rate)) {
        if (rng.next() < writeShare) life.event(t, 1, 0);
        else life.event(t, 0, 1);
      }
    }
    life.finish();
    for (const k of TOTAL_KEYS) totals[k][i] = life[k];
    totals.sizeBytes[i] = life.sizeBytes();
    totals.flags[i] = life.flags;
    if (progress && (i & 0xffff) === 0xffff) progress(i + 1);
  }
  return totals;
}

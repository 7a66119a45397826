// The scale simulation's core (bench/lib/scale-sim-*.ts), which `npm run bench:scale-sim` reports from: the ring,
// the Zipf workload, the per-tenant lifecycle and the per-node sums of each scenario.
import { describe, expect, it } from 'vitest';
import { OWNER_HELD, OWNER_HOT, REPLICA_HELD, TenantLifecycle, WINDOW_WRITTEN, simulateTenants, type LifecycleParams, type WorkloadParams } from '../bench/lib/scale-sim-lifecycle.js';
import { addNode, nodeLoads, type PlacementOptions } from '../bench/lib/scale-sim-placement.js';
import { HashRing, hash32, ownersOf } from '../bench/lib/scale-sim-ring.js';
import { Mulberry32, poisson, zipfProbabilities } from '../bench/lib/scale-sim-workload.js';

const LIFE: LifecycleParams = { idleWarmS: 900, idleColdS: 86_400, snapshotIntervalS: 3600, recordsMax: 10_000_000, recordBytes: 3788, tenantBaseBytes: 73_728, snapshotRatio: 0.83, stepS: 60 };
const tenantHashes = (n: number, seed: number) => Uint32Array.from({ length: n }, (_, i) => hash32(`tenant-${i}`, seed));

describe('the ring', () => {
  it('moves about 1/(N+1) of the tenants when node N is added, all of them to the new node', () => {
    const hashes = tenantHashes(20_000, 7);
    for (const n of [3, 10, 30]) {
      const before = ownersOf(new HashRing(n, 128, 7), hashes);
      const after = ownersOf(new HashRing(n + 1, 128, 7), hashes);
      let moved = 0;
      for (let i = 0; i < hashes.length; i++) {
        if (before[i] === after[i]) continue;
        moved++;
        expect(after[i]).toBe(n);
      }
      const share = moved / hashes.length;
      expect(share).toBeGreaterThan(0.5 / (n + 1));
      expect(share).toBeLessThan(1.5 / (n + 1));
    }
  });

  it('gives every node a share of the tenants and R distinct successors', () => {
    const ring = new HashRing(10, 128, 7);
    const owners = ownersOf(ring, tenantHashes(20_000, 7));
    const perNode = new Array(10).fill(0);
    for (const k of owners) perNode[k]++;
    for (const c of perNode) expect(c).toBeGreaterThan(0.5 * 2000);
    const out = new Uint16Array(3);
    ring.successors(hash32('partition-5', 7), 3, out);
    expect(new Set(out).size).toBe(3);
    expect(out[0]).toBe(ring.owner(hash32('partition-5', 7)));
  });
});

describe('the workload', () => {
  it('draws Poisson counts with the mean asked, small and large', () => {
    const rng = new Mulberry32(1);
    for (const mean of [0.3, 4, 200]) {
      let sum = 0;
      for (let i = 0; i < 20_000; i++) sum += poisson(rng, mean);
      expect(sum / 20_000).toBeCloseTo(mean, mean < 10 ? 1 : 0);
    }
  });

  it('puts the Zipf share on the top tenant, and the expected writes on the quiet ones', () => {
    const p = zipfProbabilities(2000, 1);
    let harmonic = 0;
    for (let i = 1; i <= 2000; i++) harmonic += 1 / i;
    expect(p[0]).toBeCloseTo(1 / harmonic, 12);
    const w: WorkloadParams = { tenants: 2000, zipf: 1, writesPerS: 20, readsPerS: 20, measuredS: 4 * 3600, warmupS: 3600, windowS: 3600, historyS: 0, seed: 3 };
    const t = simulateTenants(w, LIFE);
    let total = 0;
    let tail = 0;
    let tailExpected = 0;
    for (let i = 0; i < 2000; i++) {
      total += t.writes[i]!;
      if (i >= 1000) {
        tail += t.writes[i]!; // these tenants are simulated one event at a time (under one event a step)
        tailExpected += p[i]!;
      }
    }
    const expected = w.writesPerS * w.measuredS;
    expect(total / expected).toBeGreaterThan(0.97);
    expect(total / expected).toBeLessThan(1.03);
    expect(t.writes[0]! / total / p[0]!).toBeGreaterThan(0.95);
    expect(t.writes[0]! / total / p[0]!).toBeLessThan(1.05);
    expect(tail / total / tailExpected).toBeGreaterThan(0.9);
    expect(tail / total / tailExpected).toBeLessThan(1.1);
  });
});

describe('one tenant\'s lifecycle', () => {
  it('snapshots a tenant written all along once per interval, on its owner and its replicas', () => {
    const life = new TenantLifecycle(LIFE, 5 * 3600);
    life.start(-10, -10, true, 100);
    for (let t = 0; t < 5 * 3600; t += 60) life.event(t, 2, 1);
    life.finish();
    // due at 1, 2, 3 and 4 h; the one due at 5 h falls at the end of the window
    expect(life.ownerSnapshots).toBe(4);
    expect(life.replicaSnapshots).toBe(4);
    expect(life.writes).toBe(2 * 300);
    expect(life.replicaApplied).toBe(2 * 300);
    expect(life.ownerRestores).toBe(0);
    expect(life.records).toBe(100 + 600);
    expect(life.flags & (OWNER_HELD | OWNER_HOT | REPLICA_HELD)).toBe(OWNER_HELD | OWNER_HOT | REPLICA_HELD);
  });

  it('offloads an idle tenant (a snapshot), restores it on its next request, and a replica that went cold skips its ops', () => {
    const life = new TenantLifecycle(LIFE, 250_000);
    life.start(-10, -10, true, 100);
    life.event(0, 1, 0);
    life.event(1000, 0, 1); // 1000 s idle: hot → warm → opened again
    life.event(100_000, 0, 1); // over a day idle: offloaded at 87,400 s, restored now
    life.event(200_000, 1, 0); // the replica went cold at 86,400 s: the op is skipped there
    life.finish();
    expect(life.ownerIdleOpens).toBe(1);
    expect(life.ownerRestores).toBe(2); // at 100,000 s and at 200,000 s (idle since 100,000)
    expect(life.ownerRestoreBytes).toBeCloseTo(2 * (LIFE.tenantBaseBytes + 101 * LIFE.recordBytes) * LIFE.snapshotRatio, 3);
    // owner: the interval snapshot of the first write, two offloads, the interval snapshot of the last write (its
    // next offload, at 286,400 s, is after the window)
    expect(life.ownerSnapshots).toBe(4);
    // replica: the interval snapshot of the first write and its own offload; the last op never reached it
    expect(life.replicaSnapshots).toBe(2);
    expect(life.replicaApplied).toBe(1);
    expect(life.writes).toBe(2);
    expect(life.flags & REPLICA_HELD).toBe(0);
  });

  it('takes the interval snapshot one interval after the first write it does not cover', () => {
    const early = new TenantLifecycle(LIFE, 3599);
    early.start(-10, -10, true, 1);
    early.event(0, 1, 0);
    early.finish();
    expect(early.ownerSnapshots).toBe(0);
    const due = new TenantLifecycle(LIFE, 3601);
    due.start(-10, -10, true, 1);
    due.event(0, 1, 0);
    due.event(1800, 1, 0); // already dirty: does not move the due time
    due.finish();
    expect(due.ownerSnapshots).toBe(1);
    expect(due.ownerSnapshotBytes).toBeCloseTo((LIFE.tenantBaseBytes + 3 * LIFE.recordBytes) * LIFE.snapshotRatio, 3);
  });

  it('restores a tenant a replica never saw before applying its op', () => {
    const life = new TenantLifecycle(LIFE, 10_000);
    life.start(-100_000, -100_000, false, 50);
    life.event(10, 3, 0);
    life.finish();
    expect(life.replicaRestores).toBe(1);
    expect(life.ownerRestores).toBe(1);
    expect(life.replicaApplied).toBe(3);
  });
});

describe('the scenarios', () => {
  const w: WorkloadParams = { tenants: 5000, zipf: 0, writesPerS: 50, readsPerS: 50, measuredS: 2 * 3600, warmupS: 3600, windowS: 3600, historyS: 86_400, seed: 11 };
  const totals = simulateTenants(w, LIFE);
  const hashes = tenantHashes(w.tenants, 11);
  const o: PlacementOptions = { nodes: 30, vnodes: 128, seed: 11, partitions: 1024, replicas: 3, openMax: 64, snapshotRatio: 0.83 };
  let written = 0;
  for (let i = 0; i < w.tenants; i++) written += totals.writes[i]!;

  it('full replication: every node receives every op the cluster writes', () => {
    const load = nodeLoads('full', totals, hashes, o);
    for (const r of load.received) expect(r).toBe(written);
    const lifecycle = nodeLoads('lifecycle', totals, hashes, o);
    for (const r of lifecycle.received) expect(r).toBe(written);
  });

  it('partitioned: a node receives about R/N of the stream', () => {
    const load = nodeLoads('partitioned', totals, hashes, o);
    let sum = 0;
    for (const r of load.received) {
      sum += r;
      expect(r / written).toBeGreaterThan((0.4 * 3) / 30);
      expect(r / written).toBeLessThan((1.6 * 3) / 30);
    }
    expect(sum).toBeCloseTo(3 * written, 6); // each op goes to its partition's three nodes
  });

  it('applies only on the owner under lifecycle, and on every node under full', () => {
    const full = nodeLoads('full', totals, hashes, o);
    const lifecycle = nodeLoads('lifecycle', totals, hashes, o);
    let taken = 0;
    for (let k = 0; k < 30; k++) {
      taken += lifecycle.taken[k]!;
      expect(lifecycle.streamApplied[k]).toBe(0);
      expect(full.taken[k]! + full.streamApplied[k]!).toBeCloseTo(written, 6); // every tenant is held (all written within the day)
    }
    expect(taken).toBe(written);
  });

  it('a new node restores the moved tenants used (lifecycle), and everything written meanwhile (full)', () => {
    const lifecycle = addNode('lifecycle', totals, hashes, o);
    const full = addNode('full', totals, hashes, o);
    expect(lifecycle.movedToNew).toBe(lifecycle.moved);
    expect(lifecycle.restored).toBe(lifecycle.movedUsed);
    let writtenInWindow = 0;
    for (let i = 0; i < w.tenants; i++) if (totals.flags[i]! & WINDOW_WRITTEN) writtenInWindow++;
    expect(full.restored).toBeGreaterThanOrEqual(writtenInWindow);
    expect(full.restored).toBeGreaterThan(5 * lifecycle.restored);
  });
});

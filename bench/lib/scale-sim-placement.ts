// What each node of a cluster carries in the scale simulation (bench/scale-sim.ts), from the per-tenant lifecycle
// totals (bench/lib/scale-sim-lifecycle.ts) and the placement of the scenario:
//
//   full         today: every node's durable consumer reads the whole PERCOLATE_SYNC stream; the tenant's owner (the
//                ring's node for X-Tenant-ID) takes its requests and writes, every other node is a replica (applies
//                the ops of tenants it holds or never saw, skips those it holds cold).
//   lifecycle    "apply only what this node holds": every node still reads the whole stream, but ops of tenants it
//                does not hold are dropped after decoding; with routing stable no node holds another's tenants, so
//                only the owner has them.
//   partitioned  the next step: subjects partitioned by hash(tenant), each partition placed on R nodes of the ring
//                (the first primary: requests are routed by partition), each node consuming only its partitions.
//                Its R - 1 other nodes are replicas as in `full`.
//
// Per-node sums are "the node's own tenants" plus, for replicas in `full`, "every tenant's replica figure minus the
// node's own tenants'" (every non-owner node sees the same ops, so their replica state is the same).
import { HashRing, ownersOf, partitionOf, partitionPlacement } from './scale-sim-ring.js';
import { OWNER_HELD, OWNER_HOT, REPLICA_HELD, REPLICA_HOT, WINDOW_USED, WINDOW_WRITTEN, type TenantTotals } from './scale-sim-lifecycle.js';

export const SCENARIOS = ['full', 'lifecycle', 'partitioned'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface PlacementOptions {
  nodes: number;
  vnodes: number;
  seed: number;
  /** Sync partitions (partitioned). */
  partitions: number;
  /** Nodes per partition, the primary included (partitioned); at most the node count. */
  replicas: number;
  /** PERCOLATE_TENANTS_OPEN_MAX: tenants a node keeps hot; the rest are opened again when used. */
  openMax: number;
  /** Snapshot archive bytes per byte on disk (to price the restores of the window after a node is added). */
  snapshotRatio: number;
}

/** Per node, sums over the measured window (and, for disk and presence, its end). */
export interface NodeLoad {
  nodes: number;
  /** Ops delivered to the node's consumer (its own included: it decodes and skips them). */
  received: Float64Array;
  /** Writes the node takes as the tenants' owner (applied through the write path). */
  taken: Float64Array;
  /** Ops of other nodes' writes applied from the stream. */
  streamApplied: Float64Array;
  restores: Float64Array;
  restoreBytes: Float64Array;
  snapshots: Float64Array;
  snapshotBytes: Float64Array;
  /** warm → hot opens, at least: every step a tenant outside the node's hot set is used costs one. */
  opens: Float64Array;
  diskBytes: Float64Array;
  /** Tenants used within the idle-warm age at the end (hot if the hot budget allowed). */
  hotWanted: Float64Array;
  /** Tenants held (hot or warm) at the end. */
  held: Float64Array;
}

function emptyLoad(nodes: number): NodeLoad {
  const a = () => new Float64Array(nodes);
  return { nodes, received: a(), taken: a(), streamApplied: a(), restores: a(), restoreBytes: a(), snapshots: a(), snapshotBytes: a(), opens: a(), diskBytes: a(), hotWanted: a(), held: a() };
}

const bit = (flags: number, b: number) => ((flags & b) !== 0 ? 1 : 0);

/** Adds tenant i's owner-role figures to node k; `hot`: the tenant is in k's hot set (opened only after idling). */
function addOwner(load: NodeLoad, k: number, t: TenantTotals, i: number, hot: boolean): void {
  const f = t.flags[i]!;
  load.taken[k]! += t.writes[i]!;
  load.restores[k]! += t.ownerRestores[i]!;
  load.restoreBytes[k]! += t.ownerRestoreBytes[i]!;
  load.snapshots[k]! += t.ownerSnapshots[i]!;
  load.snapshotBytes[k]! += t.ownerSnapshotBytes[i]!;
  load.opens[k]! += hot ? t.ownerIdleOpens[i]! : t.usedSteps[i]!;
  load.diskBytes[k]! += bit(f, OWNER_HELD) * t.sizeBytes[i]!;
  load.hotWanted[k]! += bit(f, OWNER_HOT);
  load.held[k]! += bit(f, OWNER_HELD);
}

/** Adds (sign 1) or removes (sign -1) tenant i's replica-role figures to node k. */
function addReplica(load: NodeLoad, k: number, t: TenantTotals, i: number, hot: boolean, sign: number): void {
  const f = t.flags[i]!;
  load.streamApplied[k]! += sign * t.replicaApplied[i]!;
  load.restores[k]! += sign * t.replicaRestores[i]!;
  load.restoreBytes[k]! += sign * t.replicaRestoreBytes[i]!;
  load.snapshots[k]! += sign * t.replicaSnapshots[i]!;
  load.snapshotBytes[k]! += sign * t.replicaSnapshotBytes[i]!;
  load.opens[k]! += sign * (hot ? t.replicaIdleOpens[i]! : t.writtenSteps[i]!);
  load.diskBytes[k]! += sign * bit(f, REPLICA_HELD) * t.sizeBytes[i]!;
  load.hotWanted[k]! += sign * bit(f, REPLICA_HOT);
  load.held[k]! += sign * bit(f, REPLICA_HELD);
}

/** Whether a node uses tenant i at all in the role (it then takes one of the node's hot slots, by rank). */
const usedAsOwner = (t: TenantTotals, i: number) => t.usedSteps[i]! > 0 || (t.flags[i]! & OWNER_HELD) !== 0;
const usedAsReplica = (t: TenantTotals, i: number) => t.writtenSteps[i]! > 0 || (t.flags[i]! & REPLICA_HELD) !== 0;

/** Every tenant's partition nodes (primary first), `replicas` per tenant. */
function tenantPartitionNodes(tenantHash: Uint32Array, ring: HashRing, partitions: number, replicas: number): Uint16Array {
  const placement = partitionPlacement(ring, partitions, replicas);
  const out = new Uint16Array(tenantHash.length * replicas);
  for (let i = 0; i < tenantHash.length; i++) {
    const p = partitionOf(tenantHash[i]!, partitions);
    for (let r = 0; r < replicas; r++) out[i * replicas + r] = placement[p * replicas + r]!;
  }
  return out;
}

/**
 * The load of every node of a cluster of `o.nodes` running `scenario`. Tenants are in popularity order, so a node's
 * hot set is its first `openMax` tenants in index order (the retention score ranks by accesses); in `full` every node
 * holds nearly every tenant, and the hot set is taken to be the first `openMax` tenants overall.
 */
export function nodeLoads(scenario: Scenario, t: TenantTotals, tenantHash: Uint32Array, o: PlacementOptions): NodeLoad {
  const n = o.nodes;
  const load = emptyLoad(n);
  const ring = new HashRing(n, o.vnodes, o.seed);
  let totalWrites = 0;
  for (let i = 0; i < t.tenants; i++) totalWrites += t.writes[i]!;
  if (scenario === 'partitioned') {
    const r = Math.min(o.replicas, n);
    const nodes = tenantPartitionNodes(tenantHash, ring, o.partitions, r);
    const hotSlots = new Float64Array(n);
    for (let i = 0; i < t.tenants; i++) {
      for (let j = 0; j < r; j++) {
        const k = nodes[i * r + j]!;
        load.received[k]! += t.writes[i]!;
        const used = j === 0 ? usedAsOwner(t, i) : usedAsReplica(t, i);
        const hot = used && hotSlots[k]! < o.openMax;
        if (used) hotSlots[k]!++;
        if (j === 0) addOwner(load, k, t, i, hot);
        else addReplica(load, k, t, i, hot, 1);
      }
    }
    return load;
  }
  const owner = ownersOf(ring, tenantHash);
  load.received.fill(totalWrites);
  if (scenario === 'lifecycle') {
    const hotSlots = new Float64Array(n);
    for (let i = 0; i < t.tenants; i++) {
      const k = owner[i]!;
      const used = usedAsOwner(t, i);
      addOwner(load, k, t, i, used && hotSlots[k]! < o.openMax);
      if (used) hotSlots[k]!++;
    }
    return load;
  }
  // full: every node is a replica of every tenant, less its own
  const all = emptyLoad(1);
  for (let i = 0; i < t.tenants; i++) {
    const hot = i < o.openMax;
    addReplica(all, 0, t, i, hot, 1);
    addOwner(load, owner[i]!, t, i, hot);
    addReplica(load, owner[i]!, t, i, hot, -1);
  }
  for (const key of ['streamApplied', 'restores', 'restoreBytes', 'snapshots', 'snapshotBytes', 'opens', 'diskBytes', 'hotWanted', 'held'] as const) {
    for (let k = 0; k < n; k++) load[key][k]! += all[key][0]!;
  }
  return load;
}

export interface AddNodeResult {
  /** Tenants whose requests go to another node once node N is added. */
  moved: number;
  /** Of them, those that go to the new node (all of them, on a consistent-hash ring). */
  movedToNew: number;
  /** Moved tenants used in the window after the addition. */
  movedUsed: number;
  /** Tenants the new node restores in that window, and their snapshot bytes. */
  restored: number;
  restoreBytes: number;
}

/**
 * Node N joins a cluster of N (nodes 0..N-1) at the end of the measured window; over the window that follows, the new
 * node restores from S3 what it must serve or apply: the moved tenants that are used (every scenario), and in
 * `full` every tenant written meanwhile (it never saw them), in `partitioned` every tenant of its partitions
 * written meanwhile. Old nodes keep what they hold (their disks are not lost).
 */
export function addNode(scenario: Scenario, t: TenantTotals, tenantHash: Uint32Array, o: PlacementOptions): AddNodeResult {
  const n = o.nodes;
  const before = new HashRing(n, o.vnodes, o.seed);
  const after = new HashRing(n + 1, o.vnodes, o.seed);
  const res: AddNodeResult = { moved: 0, movedToNew: 0, movedUsed: 0, restored: 0, restoreBytes: 0 };
  const restore = (i: number) => {
    res.restored++;
    res.restoreBytes += t.sizeBytes[i]! * o.snapshotRatio;
  };
  if (scenario === 'partitioned') {
    const rBefore = Math.min(o.replicas, n);
    const rAfter = Math.min(o.replicas, n + 1);
    const was = tenantPartitionNodes(tenantHash, before, o.partitions, rBefore);
    const now = tenantPartitionNodes(tenantHash, after, o.partitions, rAfter);
    for (let i = 0; i < t.tenants; i++) {
      const f = t.flags[i]!;
      const primary = now[i * rAfter]!;
      const moved = primary !== was[i * rBefore]!;
      if (moved) {
        res.moved++;
        if (primary === n) res.movedToNew++;
        if (f & WINDOW_USED) res.movedUsed++;
      }
      let onNew = false;
      for (let j = 0; j < rAfter; j++) if (now[i * rAfter + j] === n) onNew = true;
      if (onNew && ((f & WINDOW_WRITTEN) !== 0 || (primary === n && (f & WINDOW_USED) !== 0))) restore(i);
    }
    return res;
  }
  const was = ownersOf(before, tenantHash);
  const now = ownersOf(after, tenantHash);
  for (let i = 0; i < t.tenants; i++) {
    const f = t.flags[i]!;
    const moved = now[i] !== was[i];
    if (moved) {
      res.moved++;
      if (now[i] === n) res.movedToNew++;
      if (f & WINDOW_USED) res.movedUsed++;
    }
    const usedHere = moved && now[i] === n && (f & WINDOW_USED) !== 0;
    if (usedHere || (scenario === 'full' && (f & WINDOW_WRITTEN) !== 0)) restore(i);
  }
  return res;
}

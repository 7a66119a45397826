// Placement for the scale simulation (bench/scale-sim.ts): the consistent-hash ring the mesh routes tenants with
// (Istio's ringHash on X-Tenant-ID: every node owns many points of a 32-bit ring, a tenant goes to the first point
// at or after its hash), and the placement of the partitioned next step (sync subjects partitioned by a hash of the
// tenant, each partition on the R distinct nodes that follow its own point on the same ring, the first one primary).
// Pure and deterministic: the same seed gives the same ring, and node k's points do not depend on how many nodes
// there are, so adding node N moves only the tenants whose first point is now one of N's.

import { fmix32, hash32 } from '../../shared/rem/hash32.js';

export { hash32 };

/** The name a node's points are derived from (a StatefulSet's pods keep theirs, so a ring only ever gains points). */
export const nodeName = (k: number): string => `node-${k}`;

/** Nodes on a ring at most (node indexes are kept in a Uint16Array). */
export const RING_NODES_MAX = 65_535;

export class HashRing {
  /** The ring's points, ascending. */
  readonly points: Uint32Array;
  /** The node owning each point. */
  readonly owners: Uint16Array;

  constructor(
    readonly nodes: number,
    readonly vnodes: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > RING_NODES_MAX) throw new Error(`a ring needs 1 to ${RING_NODES_MAX} nodes, got ${nodes}`);
    if (!Number.isInteger(vnodes) || vnodes < 1) throw new Error(`a ring needs at least one point per node, got ${vnodes}`);
    const n = nodes * vnodes;
    // point and owner packed in one float64 (hash * 2^16 + node < 2^48) so one sort orders both
    const packed = new Float64Array(n);
    for (let k = 0; k < nodes; k++) {
      const name = nodeName(k);
      for (let v = 0; v < vnodes; v++) packed[k * vnodes + v] = hash32(`${name}#${v}`, seed) * 65_536 + k;
    }
    packed.sort();
    this.points = new Uint32Array(n);
    this.owners = new Uint16Array(n);
    for (let j = 0; j < n; j++) {
      const p = packed[j]!;
      this.points[j] = Math.floor(p / 65_536);
      this.owners[j] = p % 65_536;
    }
  }

  /** Index of the first point at or after `h`, wrapping to the first point past the end. */
  pointIndex(h: number): number {
    const pts = this.points;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === pts.length ? 0 : lo;
  }

  /** The node a key of hash `h` is routed to. */
  owner(h: number): number {
    return this.owners[this.pointIndex(h)]!;
  }

  /** The first `count` distinct nodes clockwise from `h` (the primary first) into `out`; `count` ≤ nodes. */
  successors(h: number, count: number, out: Uint16Array, offset = 0): void {
    if (count > this.nodes) throw new Error(`${count} distinct nodes asked of a ring of ${this.nodes}`);
    let j = this.pointIndex(h);
    let found = 0;
    while (found < count) {
      const k = this.owners[j]!;
      let seen = false;
      for (let f = 0; f < found; f++) if (out[offset + f] === k) seen = true;
      if (!seen) out[offset + found++] = k;
      j = j + 1 === this.points.length ? 0 : j + 1;
    }
  }
}

/** The owner of every tenant (by its hash) on `ring`. */
export function ownersOf(ring: HashRing, tenantHash: Uint32Array): Uint16Array {
  const out = new Uint16Array(tenantHash.length);
  for (let i = 0; i < tenantHash.length; i++) out[i] = ring.owner(tenantHash[i]!);
  return out;
}

/** The partition of a tenant: its hash, remixed so partitions do not follow the tenant's own ring position. */
export function partitionOf(tenantHash: number, partitions: number): number {
  return fmix32(tenantHash ^ 0x9e3779b9) % partitions;
}

/**
 * Placement of `partitions` sync partitions on `ring`, `replicas` nodes each: row p (replicas entries from
 * p * replicas) is the partition's nodes, its primary first.
 */
export function partitionPlacement(ring: HashRing, partitions: number, replicas: number): Uint16Array {
  const out = new Uint16Array(partitions * replicas);
  for (let p = 0; p < partitions; p++) ring.successors(hash32(`partition-${p}`, ring.seed), replicas, out, p * replicas);
  return out;
}

// The outbox of local ops, and its markers: an empty file `<markerDir>/<tenant>` exists while a tenant may hold unpublished ops, so a restarted
// node drains exactly those tenants without opening every tenant it has. The ops themselves live in the tenant's
// own LevelDB (`outbox` sublevel), written in the same batch as the write they describe.
import fs from 'node:fs/promises';
import path from 'node:path';
import { seqKey, type BatchOp, type StringSublevel } from '../rem/codec.js';
import type { Op } from '../rem/ops.js';
import { assertTenantId } from '../rem/tenant-id.js';
import type { Mutex } from './mutex.js';

export async function markOutboxPending(markerDir: string, tenant: string): Promise<void> {
  assertTenantId(tenant);
  await fs.mkdir(markerDir, { recursive: true });
  await fs.writeFile(path.join(markerDir, tenant), '');
}

export async function clearOutboxPending(markerDir: string, tenant: string): Promise<void> {
  assertTenantId(tenant);
  await fs.rm(path.join(markerDir, tenant), { force: true });
}

export async function pendingOutboxTenants(markerDir: string): Promise<string[]> {
  try {
    return (await fs.readdir(markerDir)).filter((t) => /^[a-z0-9][a-z0-9_-]{0,62}$/.test(t));
  } catch (err) {
    // no marker directory yet means no tenant ever had pending ops; anything else must not hide an outbox
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * How long the marker of a drained outbox stays before it is removed: a tenant written to steadily keeps its marker
 * instead of creating and removing a file around every write (a stale marker only costs an open at the next start).
 */
export const OUTBOX_MARKER_LINGER_MS = 2_000;

/**
 * A tenant's outbox: local ops not yet acknowledged by JetStream, in the tenant's own LevelDB (sequence -> op JSON).
 * Ops enter it in the same batch as the write they describe (`prepare`), so a write is never acknowledged without
 * its replication record; the publisher reads the oldest (`batch`) and removes what JetStream acknowledged.
 *
 * Reads start after the last removed key: an iterator opened at the start would step over every removed entry's
 * tombstone until compaction drops them, which made each publish slower the longer a node ran.
 * The marker is written and removed under the store's write lock (`lock`), which every commit holds: a removal can
 * never interleave with a write whose batch is on its way (that write would end up in an unmarked outbox).
 */
export class Outbox {
  private seq = 0;
  private count = 0;
  private marked = false;
  /** Greatest key removed so far: every live entry is after it. */
  private head: string | undefined;
  /** Ops prepared so far: a marker removal waits until none arrived for the linger time. */
  private prepared = 0;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sublevel: StringSublevel,
    private readonly tenant: string,
    private readonly markerDir: string | undefined,
    private readonly lock: Mutex,
    private readonly lingerMs = OUTBOX_MARKER_LINGER_MS,
  ) {}

  /** Reads the last sequence and the number of waiting ops (at open). */
  async load(): Promise<void> {
    const last = await this.sublevel.keys({ reverse: true, limit: 1 }).all();
    this.seq = last[0] ? Number(last[0]) : 0;
    this.count = 0;
    for await (const _ of this.sublevel.keys()) this.count++;
    // waiting ops were marked by the writes that added them (the marker is written before their batch)
    this.marked = this.count > 0 && this.markerDir !== undefined;
  }

  /** Ops waiting to be published. */
  get depth(): number {
    return this.count;
  }

  /**
   * The batch operations that add `ops` to the outbox, and `committed()` to call once that batch was written. The
   * caller holds the write lock. The marker file is written before the batch: a crash in between leaves a marker for
   * an empty outbox, never the reverse.
   */
  async prepare(ops: readonly Op[]): Promise<{ batch: BatchOp[]; committed: () => void }> {
    if (ops.length === 0) return { batch: [], committed: () => undefined };
    this.prepared++;
    if (!this.marked && this.markerDir) {
      await markOutboxPending(this.markerDir, this.tenant);
      this.marked = true;
    }
    let seq = this.seq;
    const batch: BatchOp[] = ops.map((op) => ({ type: 'put', sublevel: this.sublevel, key: seqKey(++seq), value: JSON.stringify(op) }));
    return {
      batch,
      committed: () => {
        this.seq = seq;
        this.count += ops.length;
      },
    };
  }

  /** Oldest entries, at most `limit`. */
  async oldest(limit: number): Promise<{ key: string; op: string }[]> {
    if (this.count === 0) return [];
    const entries = await this.sublevel.iterator(this.head === undefined ? { limit } : { gt: this.head, limit }).all();
    return entries.map(([key, op]) => ({ key, op }));
  }

  /** Removes published entries. */
  async remove(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.sublevel.batch(keys.map((key) => ({ type: 'del' as const, key })));
    for (const key of keys) if (this.head === undefined || key > this.head) this.head = key;
    this.count = Math.max(0, this.count - keys.length);
  }

  /** The publisher drained the outbox: its marker goes once no op arrived for `lingerMs` (OUTBOX_MARKER_LINGER_MS). */
  drained(): void {
    if (!this.markerDir || !this.marked || this.lingerTimer) return;
    const prepared = this.prepared;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.prepared !== prepared) this.drained(); // written to meanwhile: wait for the next quiet period
      else void this.lock.run(() => this.clearMarker()).catch(() => undefined); // a marker left behind is only stale
    }, this.lingerMs);
    this.lingerTimer.unref();
  }

  /** At close (the caller holds the write lock): no timer outlives the store, and an empty outbox loses its marker. */
  async close(): Promise<void> {
    this.abandon();
    await this.clearMarker();
  }

  /** Stops the linger timer and leaves the marker as it is (a store closed as a crash would leave it). */
  abandon(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
  }

  private async clearMarker(): Promise<void> {
    if (!this.markerDir || !this.marked || this.count > 0) return;
    await clearOutboxPending(this.markerDir, this.tenant);
    this.marked = false;
  }
}

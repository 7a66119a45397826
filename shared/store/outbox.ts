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
 * Op JSON a tenant's outbox keeps in memory for the publisher at most, by default (PERCOLATE_OUTBOX_MEMORY_BYTES_MAX):
 * a few ops while NATS keeps up; a backlog while it is away goes past it, and then `oldest` reads the database until
 * the outbox is empty again.
 */
export const OUTBOX_MEMORY_BYTES_MAX = 1024 * 1024;

/** How long published entries wait for a commit to delete them with before a batch of their own does. */
export const OUTBOX_REMOVE_FLUSH_MS = 250;

/**
 * A tenant's outbox: local ops not yet acknowledged by JetStream, in the tenant's own LevelDB (sequence -> op JSON).
 * Ops enter it in the same batch as the write they describe (`prepare`), so a write is never acknowledged without
 * its replication record; the publisher reads the oldest (`batch`) and removes what JetStream acknowledged.
 *
 * Reads start after the last removed key: an iterator opened at the start would step over every removed entry's
 * tombstone until compaction drops them, which made each publish slower the longer a node ran.
 * The marker is written and removed under the store's write lock (`lock`), which every commit holds: a removal can
 * never interleave with a write whose batch is on its way (that write would end up in an unmarked outbox).
 *
 * A LevelDB call that goes to the thread pool and back costs 100-250 µs on this VM kind, half of it on the main
 * thread, so the publisher's path makes none of its own in the steady state:
 * - the ops committed since the outbox was last empty are kept in memory (up to OUTBOX_MEMORY_BYTES_MAX), and `oldest`
 *   answers from there instead of reading them back;
 * - published entries are deleted in the next batch that writes to the store (`prepare` adds their deletions to every
 *   commit, local or replicated), or by a batch of their own after OUTBOX_REMOVE_FLUSH_MS when none comes. A crash
 *   before that leaves published ops in the outbox, which are published again after the restart: JetStream drops them
 *   by their Nats-Msg-Id within its duplicate window, and a replica skips an op it holds already (same version).
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
  /** Every live entry, oldest first, while they are all known here; undefined: read them from the database. */
  private memory: { key: string; op: string }[] | undefined = [];
  private memoryBytes = 0;
  /** Keys published and removed from the count whose deletion has not been written yet (appended only). */
  private published: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sublevel: StringSublevel,
    private readonly tenant: string,
    private readonly markerDir: string | undefined,
    private readonly lock: Mutex,
    private readonly o: { lingerMs?: number; memoryBytesMax?: number } = {},
  ) {}

  private get memoryBytesMax(): number {
    return this.o.memoryBytesMax ?? OUTBOX_MEMORY_BYTES_MAX;
  }

  /** Reads the last sequence and the number of waiting ops (at open). */
  async load(): Promise<void> {
    const last = await this.sublevel.keys({ reverse: true, limit: 1 }).all();
    this.seq = last[0] ? Number(last[0]) : 0;
    this.count = 0;
    for await (const _ of this.sublevel.keys()) this.count++;
    // entries left from before (unpublished, or published and not yet deleted at a crash) are read from the database
    this.memory = this.count === 0 ? [] : undefined;
    this.memoryBytes = 0;
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
    // published entries are deleted by whatever batch comes next (they stay listed until it committed)
    const deleting = this.published.length;
    const batch: BatchOp[] = this.published.map((key) => ({ type: 'del', sublevel: this.sublevel, key }));
    if (ops.length === 0) return { batch, committed: () => this.deleted(deleting) };
    this.prepared++;
    if (!this.marked && this.markerDir) {
      await markOutboxPending(this.markerDir, this.tenant);
      this.marked = true;
    }
    let seq = this.seq;
    const added: { key: string; op: string }[] = ops.map((op) => ({ key: seqKey(++seq), op: JSON.stringify(op) }));
    for (const e of added) batch.push({ type: 'put', sublevel: this.sublevel, key: e.key, value: e.op });
    return {
      batch,
      committed: () => {
        this.deleted(deleting);
        this.seq = seq;
        this.count += ops.length;
        this.remember(added);
      },
    };
  }

  /** The first `n` published keys were deleted by a committed batch. */
  private deleted(n: number): void {
    if (n === 0) return;
    this.published.splice(0, n);
    if (this.published.length === 0) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
  }

  /** Keeps committed entries for `oldest` while every live entry fits in memory. */
  private remember(added: readonly { key: string; op: string }[]): void {
    if (!this.memory) return;
    for (const e of added) {
      this.memory.push(e);
      this.memoryBytes += e.op.length;
    }
    if (this.memoryBytes > this.memoryBytesMax) {
      this.memory = undefined;
      this.memoryBytes = 0;
    }
  }

  /** Oldest entries, at most `limit`. */
  async oldest(limit: number): Promise<{ key: string; op: string }[]> {
    if (this.count === 0) return [];
    if (this.memory) return this.memory.slice(0, limit);
    const entries = await this.sublevel.iterator(this.head === undefined ? { limit } : { gt: this.head, limit }).all();
    return entries.map(([key, op]) => ({ key, op }));
  }

  /**
   * Removes published entries (the oldest, as `oldest` gave them): at once from what is handed out, from the
   * database with the next batch (see the class comment).
   */
  remove(keys: readonly string[]): void {
    if (keys.length === 0) return;
    for (const key of keys) {
      if (this.head === undefined || key > this.head) this.head = key;
      this.published.push(key);
    }
    this.count = Math.max(0, this.count - keys.length);
    if (this.memory) {
      const gone = new Set(keys);
      let i = 0;
      while (i < this.memory.length && gone.has(this.memory[i]!.key)) this.memoryBytes -= this.memory[i++]!.op.length;
      this.memory.splice(0, i);
    }
    if (this.count === 0) {
      // everything after the head is known again: nothing
      this.memory = [];
      this.memoryBytes = 0;
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.lock.run(() => this.flushPublished()).catch(() => undefined); // retried by the next batch or close
    }, OUTBOX_REMOVE_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Deletes published entries with a batch of their own (the caller holds the write lock). */
  async flushPublished(): Promise<void> {
    const n = this.published.length;
    if (n === 0) return;
    await this.sublevel.batch(this.published.slice(0, n).map((key) => ({ type: 'del' as const, key })));
    this.deleted(n);
  }

  /** The publisher drained the outbox: its marker goes once no op arrived for `lingerMs` (OUTBOX_MARKER_LINGER_MS). */
  drained(): void {
    if (!this.markerDir || !this.marked || this.lingerTimer) return;
    const prepared = this.prepared;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.prepared !== prepared) this.drained(); // written to meanwhile: wait for the next quiet period
      else void this.lock.run(() => this.clearMarker()).catch(() => undefined); // a marker left behind is only stale
    }, this.o.lingerMs ?? OUTBOX_MARKER_LINGER_MS);
    this.lingerTimer.unref();
  }

  /** At close (the caller holds the write lock): no timer outlives the store, and an empty outbox loses its marker. */
  async close(): Promise<void> {
    this.abandon();
    await this.flushPublished();
    await this.clearMarker();
  }

  /** Stops the linger timer and leaves the marker as it is (a store closed as a crash would leave it). */
  abandon(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private async clearMarker(): Promise<void> {
    if (!this.markerDir || !this.marked || this.count > 0) return;
    // published entries go before the marker that would make a restarted node look at them
    await this.flushPublished();
    await clearOutboxPending(this.markerDir, this.tenant);
    this.marked = false;
  }
}

// A tenant's outbox and its marker file (which tells a restarted node which tenants hold unpublished ops): reads
// start after what was removed, the marker exists whenever an op waits, and a drained outbox keeps its marker for a
// quiet period instead of removing and re-creating the file around every write. The removal takes the store's write
// lock, so it cannot slip between a write's marker check and its batch.
import fs from 'node:fs';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchOp } from '../shared/rem/codec.js';
import type { Op } from '../shared/rem/ops.js';
import { Mutex } from '../shared/store/mutex.js';
import { Outbox } from '../shared/store/outbox.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
let db: ClassicLevel<string, string>;
let lock: Mutex;
let markerDir: string;
const TENANT = 't1';
const marker = () => path.join(markerDir, TENANT);

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  db = new ClassicLevel<string, string>(path.join(dir, 'db'), { valueEncoding: 'utf8' });
  await db.open();
  lock = new Mutex();
  markerDir = path.join(dir, 'outbox-pending');
});
afterEach(async () => {
  await db.close();
  await cleanup();
});

function outbox(lingerMs: number, memoryBytesMax?: number): Outbox {
  return new Outbox(db.sublevel<string, string>('outbox', { valueEncoding: 'utf8' }), TENANT, markerDir, lock, { lingerMs, memoryBytesMax });
}

let n = 0;
const op = (): Op => ({ v: 1, op_id: `op-${n++}`, tenant: TENANT, node: 'a', hlc: `0001796146395065-${String(n).padStart(5, '0')}-a`, mutations: [] }) as unknown as Op;
/** An op whose JSON is about `bytes` long (a document's text and vector). */
const bigOp = (bytes: number): Op => ({ ...op(), pad: 'x'.repeat(bytes) }) as unknown as Op;

/** Keys the outbox sublevel holds in the database, whatever the outbox object knows. */
const storedKeys = () => db.sublevel<string, string>('outbox', { valueEncoding: 'utf8' }).keys().all();

/** Writes the outbox's batch operations (each names the outbox sublevel) as the store's batch writer would. */
async function commitBatch(ops: readonly BatchOp[]): Promise<void> {
  const chained = db.batch();
  for (const o of ops) {
    if (o.type === 'put') chained.put(o.key as string, o.value as string, { sublevel: o.sublevel as never });
    else chained.del(o.key as string, { sublevel: o.sublevel as never });
  }
  await chained.write();
}

/** One local write's outbox part, as TenantStore.commit does it under the write lock. */
async function write(o: Outbox, count = 1, make: () => Op = op): Promise<void> {
  await lock.run(async () => {
    const prepared = await o.prepare(Array.from({ length: count }, make));
    await commitBatch(prepared.batch);
    prepared.committed();
  });
}

/** What the publisher does: read the oldest, remove them, say the outbox is drained. */
async function publishAll(o: Outbox, batchMax = 100): Promise<string[]> {
  const seen: string[] = [];
  for (let batch = await o.oldest(batchMax); batch.length > 0; batch = await o.oldest(batchMax)) {
    seen.push(...batch.map((e) => (JSON.parse(e.op) as Op).op_id));
    await o.remove(batch.map((e) => e.key));
  }
  o.drained();
  return seen;
}

describe('outbox', () => {
  it('hands out every op once, oldest first, across removals and a reopen', async () => {
    const o = outbox(60_000);
    await write(o, 250);
    const first = await publishAll(o, 64);
    expect(first).toHaveLength(250);
    expect(new Set(first).size).toBe(250);
    await write(o, 3);
    expect(await publishAll(o)).toEqual(['op-250', 'op-251', 'op-252']);
    await write(o, 2);
    await lock.run(() => o.close());
    const again = outbox(60_000);
    await again.load();
    expect(again.depth).toBe(2);
    expect(await publishAll(again)).toEqual(['op-253', 'op-254']);
    await lock.run(() => again.close());
  });

  it('marks a tenant before its first op is written and keeps one marker file while it is written to steadily', async () => {
    const o = outbox(60_000);
    await write(o);
    const ino = fs.statSync(marker()).ino;
    for (let i = 0; i < 5; i++) {
      await publishAll(o);
      await write(o);
      expect(fs.statSync(marker()).ino).toBe(ino); // the same file: not removed and created again
    }
    await publishAll(o);
    // closing a drained outbox removes its marker at once; one with a waiting op keeps it
    await lock.run(() => o.close());
    expect(fs.existsSync(marker())).toBe(false);
    const p = outbox(60_000);
    await p.load();
    await write(p);
    await lock.run(() => p.close());
    expect(fs.existsSync(marker())).toBe(true);
  });

  it('removes the marker of a drained outbox after the quiet period', async () => {
    const o = outbox(30);
    await write(o);
    await publishAll(o);
    expect(fs.existsSync(marker())).toBe(true);
    await waitFor('the marker of the drained outbox to go', async () => !fs.existsSync(marker()), 5_000);
    // the next write marks it again before its batch
    await write(o);
    expect(fs.existsSync(marker())).toBe(true);
    await lock.run(() => o.close());
  });

  it('never removes the marker under a write whose batch is on its way', async () => {
    const o = outbox(30);
    await write(o);
    await publishAll(o); // the removal is due in 30 ms
    await lock.run(async () => {
      const prepared = await o.prepare([op()]);
      // the quiet period ends while this write holds the lock: the removal waits for it
      await waitFor('the marker removal to wait for the lock', async () => lock.waiters === 1, 5_000);
      await commitBatch(prepared.batch);
      prepared.committed();
    });
    await lock.run(async () => undefined); // after the removal attempt (the lock is FIFO)
    expect(o.depth).toBe(1);
    expect(fs.existsSync(marker())).toBe(true);
    await lock.run(() => o.close());
    expect(fs.existsSync(marker())).toBe(true);
  });

  it('deletes published entries with the next batch the store writes, even one without ops of its own', async () => {
    const o = outbox(60_000);
    await write(o, 3);
    expect(await storedKeys()).toHaveLength(3);
    expect(await publishAll(o)).toHaveLength(3);
    expect(o.depth).toBe(0);
    // published and handed out no more, but still in the database until a batch deletes them
    expect(await storedKeys()).toHaveLength(3);
    await write(o, 0); // a replicated commit: no local op, the same batch
    expect(await storedKeys()).toEqual([]);
    await write(o, 2);
    expect(await publishAll(o)).toHaveLength(2);
    await write(o, 1); // a local write deletes them and adds its own op
    expect(await storedKeys()).toHaveLength(1);
    expect(await publishAll(o)).toHaveLength(1);
    await lock.run(() => o.close()); // close deletes what is left
    expect(await storedKeys()).toEqual([]);
  });

  it('deletes published entries by a batch of their own when no write comes', async () => {
    const o = outbox(60_000);
    await write(o, 4);
    await publishAll(o);
    await waitFor('the published entries to be deleted without a write', async () => (await storedKeys()).length === 0, 5_000);
    expect(o.depth).toBe(0);
    await lock.run(() => o.close());
  });

  it('hands out published entries again after a crash that came before their deletion (published twice, never lost)', async () => {
    const o = outbox(60_000);
    await write(o, 2);
    const published = await publishAll(o);
    await write(o, 1);
    o.abandon(); // a crash: the batch with the deletions was written (the write above), then one more op
    const wrote = await publishAll(o);
    o.abandon(); // crash again before anything deletes that one
    const again = outbox(60_000);
    await again.load();
    expect(again.depth).toBe(1);
    expect(await publishAll(again)).toEqual(wrote);
    expect(published).not.toContain(wrote[0]);
    await lock.run(() => again.close());
    expect(await storedKeys()).toEqual([]);
  });

  it('hands out every op once, in order, when more is waiting than it keeps in memory (or it keeps none), and after it drained', async () => {
    for (const memoryBytesMax of [64 * 1024, 0]) {
      const o = outbox(60_000, memoryBytesMax);
      const opBytes = 8 * 1024;
      const count = Math.ceil((2 * 64 * 1024) / opBytes);
      const before = n;
      await write(o, count, () => bigOp(opBytes));
      const seen = await publishAll(o, 7);
      expect(seen).toEqual(Array.from({ length: count }, (_, i) => `op-${before + i}`));
      await write(o, 3);
      expect(await publishAll(o, 2)).toEqual([`op-${before + count}`, `op-${before + count + 1}`, `op-${before + count + 2}`]);
      await lock.run(() => o.close());
      expect(await storedKeys()).toEqual([]);
    }
  });
});

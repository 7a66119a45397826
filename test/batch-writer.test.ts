// Contract of the one place that uses classic-level's implementor API (shared/store/batch-writer.ts): a batch written
// through `_chainedBatch` / `_put` / `_del` / `_write` must read back exactly like one written through the public
// `batch()`, for every value encoding the store uses and for named key spaces. If a classic-level upgrade changes
// that API, this fails before any store does.
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchOp, JsonSublevel, KeySpace } from '../shared/rem/codec.js';
import { BatchWriter, type StoreOp } from '../shared/store/batch-writer.js';
import { tempDir } from './support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function database(name: string) {
  const tmp = await tempDir();
  const db = new ClassicLevel<string, unknown>(path.join(tmp.dir, name), { valueEncoding: 'json' });
  await db.open();
  cleanups.push(async () => {
    await db.close();
    await tmp.cleanup();
  });
  const spaces = {
    meta: db.sublevel<string, unknown>('meta', { valueEncoding: 'json' }),
    idx: db.sublevel<string, string>('idx', { valueEncoding: 'utf8' }),
    redge: db.sublevel<string, number>('redge', { valueEncoding: 'json' }),
    ver: db.sublevel<string, unknown>('ver', { valueEncoding: 'json' }),
    tomb: db.sublevel<string, string>('tomb', { valueEncoding: 'utf8' }),
  } as Record<KeySpace, JsonSublevel>;
  const buffers = db.sublevel<string, Buffer>('v', { valueEncoding: 'buffer' });
  return { db, spaces, buffers };
}

/** Every key and value of a database as raw bytes (hex), so two databases compare exactly. */
async function dump(db: ClassicLevel<string, unknown>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' } as never)) {
    out.push([(k as unknown as Buffer).toString('hex'), (v as unknown as Buffer).toString('hex')]);
  }
  return out;
}

describe('BatchWriter', () => {
  it('uses the implementor API classic-level still has', async () => {
    const { db } = await database('api');
    const batch = (db as unknown as { _chainedBatch?: () => Record<string, unknown> })._chainedBatch?.();
    expect(typeof batch).toBe('object');
    for (const m of ['_put', '_del', '_write', 'close']) expect(typeof batch![m]).toBe('function');
    await (batch as unknown as { close(): Promise<void> }).close();
  });

  it('writes exactly what the public batch() writes, across encodings, sublevels, key spaces and deletes', async () => {
    const a = await database('native');
    const b = await database('public');
    const vec = Buffer.from(new Float32Array([1.5, -2, 3.25]).buffer);
    const ops = (d: typeof a): StoreOp[] => [
      { type: 'put', space: 'meta', key: 'count:resources', value: 3 },
      { type: 'put', space: 'meta', key: 'tenant', value: { tenant: 't', nested: { list: [1, 'two', null] } } },
      { type: 'put', space: 'idx', key: 'ruri\u0000doc://1\u00000000000000', value: 'abc' },
      { type: 'put', space: 'idx', key: 'gone', value: 'x' },
      { type: 'del', space: 'idx', key: 'gone' },
      { type: 'put', space: 'redge', key: 'to\u0000rel\u0000from', value: 0.5 },
      { type: 'put', space: 'tomb', key: 'res\u0000id', value: '000001733000000.000000.n' },
      { type: 'put', sublevel: d.buffers, key: 'id1', value: vec } as BatchOp,
      { type: 'put', key: 'root', value: { at: 'the root' } } as BatchOp,
    ];
    await new BatchWriter(a.db, a.spaces, false).write(ops(a));
    // the same batch through abstract-level's public API
    const resolved = ops(b).map((o) => ('space' in o ? (o.type === 'put' ? { type: 'put', sublevel: b.spaces[o.space], key: o.key, value: o.value } : { type: 'del', sublevel: b.spaces[o.space], key: o.key }) : o));
    await b.db.batch(resolved as BatchOp[]);
    expect(await dump(a.db)).toEqual(await dump(b.db));
    expect(await a.spaces.meta.get('tenant')).toEqual({ tenant: 't', nested: { list: [1, 'two', null] } });
    expect(await a.spaces.idx.get('gone')).toBeUndefined();
    expect(Buffer.compare((await a.buffers.get('id1')) as Buffer, vec)).toBe(0);
  });

  it('falls back to the public batch() on a database that is not open, and says so by failing like it', async () => {
    const { db, spaces } = await database('closed');
    await db.close();
    await expect(new BatchWriter(db, spaces, false).write([{ type: 'put', space: 'meta', key: 'k', value: 1 }])).rejects.toThrow(/not open/i);
    await db.open(); // for the cleanup
  });
});

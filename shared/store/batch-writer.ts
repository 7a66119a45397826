// Writes one LevelDB batch of a tenant store: the records, index entries, vectors, versions and outbox ops of one
// commit. The only place that uses classic-level's implementor API (see `write`), with a contract test
// (test/batch-writer.test.ts) that fails if a classic-level upgrade changes it.
import type { ClassicLevel } from 'classic-level';
import type { BatchOp, JsonSublevel, KeySpace, SpaceOp } from '../rem/codec.js';
import { TimeSlice } from '../rem/time-slice.js';

/** An operation of a commit: on a sublevel the store owns (indexes, records) or on a named key space. */
export type StoreOp = BatchOp | SpaceOp;

/** classic-level's chained batch through its implementor API. */
interface NativeChainedBatch {
  _put(key: string, value: unknown): void;
  _del(key: string): void;
  _write(options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

interface Encoding {
  encode(v: unknown): unknown;
}

/** A sublevel as the writer needs it: its key prefix and value encoding. */
export interface WritableSublevel {
  readonly prefix: string;
  valueEncoding(): Encoding;
}

export class BatchWriter {
  private readonly encodings = new Map<object, Encoding>();

  constructor(
    private readonly db: ClassicLevel<string, unknown>,
    private readonly spaces: Record<KeySpace, JsonSublevel>,
    private readonly sync: boolean,
  ) {}

  /**
   * Writes `ops` atomically through classic-level's native chained batch, with keys prefixed and values encoded
   * here. abstract-level's public batch() clones and re-validates every operation, which costs more than LevelDB's
   * write itself on the ~20 operations a record needs; and the array form (`_batch`) has the addon read five
   * properties of every operation object, about 3x the main-thread time of one `_put(key, value)` call per operation
   * (measured on 19k operations: 50 ms against 15 ms). `_chainedBatch`, `_put`, `_del` and `_write` are the
   * documented implementor API that the public chained batch ends in. Falls back to batch() when it is missing.
   * Encoding a thousand records' keys takes a while: the loop yields between time slices (nothing is visible before
   * `_write`, and the caller holds the tenant's write lock).
   */
  async write(ops: readonly StoreOp[]): Promise<void> {
    const db = this.db as unknown as { _chainedBatch?: () => NativeChainedBatch; status: string };
    if (typeof db._chainedBatch !== 'function' || db.status !== 'open') {
      await this.db.batch(ops.map((o) => this.resolve(o)) as BatchOp[], { sync: this.sync });
      return;
    }
    const batch = db._chainedBatch();
    const slice = new TimeSlice(undefined, 256);
    try {
      for (const o of ops) {
        if (slice.due()) await slice.pause();
        const op = this.resolve(o) as { type: 'put' | 'del'; sublevel?: WritableSublevel; key: string; value?: unknown };
        const key = (op.sublevel ? op.sublevel.prefix : '') + op.key;
        if (op.type === 'del') batch._del(key);
        else batch._put(key, this.encodingOf(op.sublevel ?? (this.db as unknown as WritableSublevel)).encode(op.value));
      }
      await batch._write({ sync: this.sync });
    } finally {
      await batch.close(); // detaches it from the database (close() would otherwise wait for it)
    }
  }

  /** A named-space op as the sublevel op it stands for. */
  private resolve(o: StoreOp): BatchOp {
    if (!('space' in o)) return o;
    const sublevel = this.spaces[o.space];
    return o.type === 'put' ? { type: 'put', sublevel, key: o.key, value: o.value } : { type: 'del', sublevel, key: o.key };
  }

  private encodingOf(sub: WritableSublevel): Encoding {
    let enc = this.encodings.get(sub);
    if (!enc) {
      enc = sub.valueEncoding();
      this.encodings.set(sub, enc);
    }
    return enc;
  }
}

// Storage codecs every layer agrees on: the LevelDB batch operation, sublevel types by value encoding, log sequence
// keys and the binary form of vectors. They sit with the data model so indexes and the store share them without
// importing each other.
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BatchOp = AbstractBatchOperation<any, any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonSublevel<V = any> = AbstractSublevel<any, any, string, V>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BufferSublevel = AbstractSublevel<any, any, string, Buffer>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StringSublevel = AbstractSublevel<any, any, string, string>;

const SEQ_WIDTH = 16;

/** A log sequence as a key that sorts numerically (vector logs, the outbox). */
export function seqKey(seq: number): string {
  return seq.toString().padStart(SEQ_WIDTH, '0');
}

export function vectorToBuffer(v: Float32Array | number[]): Buffer {
  const f = v instanceof Float32Array ? v : Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

export function bufferToVector(b: Uint8Array): Float32Array {
  // copy: LevelDB buffers may be unaligned slices of a larger allocation
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

/**
 * The store's named key spaces outside the per-kind ones: secondary indexes, reverse edges, record versions,
 * tombstones and the tenant's metadata. Code outside the store addresses them by name, never by sublevel.
 */
export type KeySpace = 'idx' | 'redge' | 'ver' | 'tomb' | 'meta';

/** A write to a named key space, carried in the store's batch with the records it belongs to. */
export type SpaceOp = { type: 'put'; space: KeySpace; key: string; value: unknown } | { type: 'del'; space: KeySpace; key: string };

/** A key range of a scan (LevelDB's iterator options). */
export interface KeyRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
  /** Bytes one native read may gather (classic-level's highWaterMarkBytes, default 16 KB): larger for full scans. */
  highWaterMarkBytes?: number;
}

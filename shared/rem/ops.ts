// The one operation format for every mutation, local or replicated. An op carries one HLC timestamp for all of its
// mutations (one write call), and is what the outbox stores and JetStream carries (`Nats-Msg-Id` = op_id).
import type { Moment, RemKind, Resource } from './types.js';

export interface EdgeDelta {
  rel: string;
  to: string;
  properties: Record<string, unknown>;
  weight: number;
}

/** An entity upsert as a CRDT delta: every field present is a register write at the op's timestamp. */
export interface EntityDelta {
  type: string;
  key: string;
  name?: string;
  aliases?: string[];
  /** null removes the property */
  properties?: Record<string, unknown>;
  edges?: EdgeDelta[];
  edges_remove?: { rel: string; to: string }[];
  /** An explicit embedding (base64 float32), or null to go back to the computed one. */
  embedding?: string | null;
}

export type Mutation =
  | { type: 'put'; kind: 'resources'; id: string; record: Resource; vector: string }
  | { type: 'put'; kind: 'moments'; id: string; record: Moment; vector: string }
  | { type: 'put'; kind: 'entities'; id: string; delta: EntityDelta }
  | { type: 'delete'; kind: RemKind; id: string };

/** An entity type's schema as it travels: what PUT /schemas/:type stored at the origin (type as first written). */
export interface SchemaDefinition {
  type: string;
  schema: Record<string, unknown>;
  key_field: string | null;
  indexed_fields: string[];
  embedding_fields: string[];
  created_at: string;
  updated_at: string;
}

/**
 * A schema change: last-writer-wins per entity type (`id` is the normalised type) by the op's HLC, a delete leaves a
 * tombstone like a record's. It travels in an op of its own (one mutation), since applying it rebuilds indexes.
 */
export type SchemaMutation = { type: 'put'; kind: 'schemas'; id: string; definition: SchemaDefinition } | { type: 'delete'; kind: 'schemas'; id: string };

/** A record op carries record mutations; a schema op exactly one schema mutation. */
export interface Op<M extends Mutation | SchemaMutation = Mutation | SchemaMutation> {
  v: 1;
  /** Unique per op: the HLC (unique per node) plus the part number when one write was split across messages. */
  op_id: string;
  tenant: string;
  node: string;
  hlc: string;
  mutations: M[];
}

export type RecordOp = Op<Mutation>;
export type SchemaOp = Op<SchemaMutation>;

export const isSchemaOp = (op: Op): op is SchemaOp => op.mutations[0]?.kind === 'schemas';

const LOCAL_VECTOR = Symbol('localVector');

/**
 * A put mutation for a record with its vector. The vector travels base64-encoded on the wire, but a local write
 * keeps the Float32Array beside it (under a symbol, so JSON never sees it) and encodes only when an outbox needs it.
 */
export function localPut<K extends 'resources' | 'moments'>(
  kind: K,
  id: string,
  record: K extends 'resources' ? Resource : Moment,
  vector: Float32Array,
): Mutation {
  const m = { type: 'put', kind, id, record, vector: '' } as Mutation & { [LOCAL_VECTOR]?: Float32Array };
  m[LOCAL_VECTOR] = vector;
  return m;
}

/** The mutation's vector: the local Float32Array when there is one, else decoded from the wire form. */
export function mutationVector(m: Mutation & { vector: string }): Float32Array {
  return (m as { [LOCAL_VECTOR]?: Float32Array })[LOCAL_VECTOR] ?? decodeVector(m.vector);
}

/** Keeps a vector decoded (and checked) from the wire beside its mutation, so the write path does not decode it again. */
export function keepDecodedVector(m: Mutation, vector: Float32Array): void {
  (m as { [LOCAL_VECTOR]?: Float32Array })[LOCAL_VECTOR] = vector;
}

/** Fills in the wire form of local vectors (only needed when the op goes to the outbox). */
export function encodeLocalVectors(mutations: Mutation[]): void {
  for (const m of mutations) {
    const local = (m as { [LOCAL_VECTOR]?: Float32Array })[LOCAL_VECTOR];
    if (local && m.type === 'put' && m.kind !== 'entities' && m.vector === '') m.vector = encodeVector(local);
  }
}

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeVector(s: string): Float32Array {
  // decoded into the vector's own memory (wire vectors were checked by checkWireVector on the way in)
  const v = new Float32Array(Buffer.byteLength(s, 'base64') >> 2);
  Buffer.from(v.buffer).write(s, 'base64');
  return v;
}

/**
 * Splits one write's mutations into ops of at most `bytesMax` serialized bytes each (NATS payloads are bounded),
 * all sharing the write's HLC. A single mutation larger than the bound travels alone.
 */
export function buildOps(tenant: string, node: string, hlc: string, mutations: Mutation[], bytesMax: number): RecordOp[] {
  const ops: RecordOp[] = [];
  let current: Mutation[] = [];
  let size = 0;
  const flush = () => {
    if (current.length === 0) return;
    ops.push({ v: 1, op_id: `${hlc}#${ops.length}`, tenant, node, hlc, mutations: current });
    current = [];
    size = 0;
  };
  for (const m of mutations) {
    const n = Buffer.byteLength(JSON.stringify(m));
    if (size + n > bytesMax && current.length > 0) flush();
    current.push(m);
    size += n;
  }
  flush();
  return ops;
}

// The shapes the store's parts share: its limits, its replication settings, a record change inside a commit, and the
// hook through which the schema registry takes part in entity writes.
import type { HybridLogicalClock } from '../rem/hlc.js';
import type { SpaceOp } from '../rem/codec.js';
import type { Entity, RemKind } from '../rem/types.js';

export interface StoreLimits {
  /** Postings read per query term to find candidates (bounds keyword query cost on very common terms). */
  postingsPerTermMax: number;
  /** Nodes a traversal may visit. */
  traversalNodesMax: number;
  /** Edges a traversal may return. */
  traversalEdgesMax: number;
  /** Keys scanned by a fuzzy entity match. */
  fuzzyScanMax: number;
  /** Candidate ids gathered from a secondary index to pre-filter a vector search. */
  filterCandidatesMax: number;
  contentCharsMax: number;
  /** Items an array checked by a schema's `uniqueItems` may hold (schemas without such a bound are refused). */
  schemaUniqueItemsMax: number;
  /** Deepest nesting of a stored document (metadata, properties) accepted from a replicated op. */
  jsonDepthMax: number;
  /** Largest answer a read builds (records' JSON bytes); listings and searches stop early past it. */
  responseBytesMax: number;
  /** Local writes waiting for a tenant's write lock at most; more are refused (`overloaded`) instead of queued. */
  writeQueueMax: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  postingsPerTermMax: 300,
  traversalNodesMax: 10_000,
  traversalEdgesMax: 50_000,
  fuzzyScanMax: 50_000,
  filterCandidatesMax: 20_000,
  contentCharsMax: 1_000_000,
  schemaUniqueItemsMax: 1000,
  jsonDepthMax: 64,
  responseBytesMax: 16 * 1024 * 1024,
  writeQueueMax: 10_000,
};

export interface StoreReplication {
  /** The node's clock, shared by all its tenants. */
  clock: HybridLogicalClock;
  /** Keep an outbox of local ops for the publisher. */
  outbox: boolean;
  /** Largest serialized op; a write above it is split into several ops. */
  opBytesMax: number;
  /** Op JSON a tenant's outbox keeps in memory for the publisher at most (default OUTBOX_MEMORY_BYTES_MAX; 0: none). */
  outboxMemoryBytesMax?: number;
  /** Directory of per-tenant "outbox not empty" markers, so a restarted node knows which tenants to drain. */
  markerDir?: string;
  /** Called after a batch that added outbox entries (wakes the publisher). */
  onOutbox?: (tenant: string) => void;
  /** Called when a tenant's persisted HLC high-water mark is beyond the clock's drift bound and was not adopted. */
  onClockRefused?: (tenant: string, hlc: string, aheadMs: number) => void;
}

/** One record change inside a commit: `record: null` deletes. */
export interface RecordChange {
  kind: RemKind;
  id: string;
  record: object | null;
  /** Text for the keyword index (ignored on delete). */
  text?: string;
  /** Vector to store (ignored on delete). */
  vector?: Float32Array;
  existed: boolean;
}

/**
 * Extension point for entity writes (the schema registry): `check` may reject a merged entity before it is written
 * (throw a RemError), `indexOps` returns the key-space writes that move secondary-index entries from `old` to `next`.
 */
export interface EntityWriteHook {
  check(next: Entity): void | Promise<void>;
  indexOps(old: Entity | undefined, next: Entity | null): SpaceOp[];
  /** The text to embed the entity from, instead of the default; undefined keeps the default. */
  embedText?(e: Entity): string | undefined;
}

/** A key to read together with others in one call: a record of a kind, or a key of a named space. */
export type ReadKey = readonly [RemKind | 'ver' | 'tomb', string];

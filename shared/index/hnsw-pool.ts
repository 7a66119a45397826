// A process-wide pool of hnswlib-node HierarchicalNSW wrappers, so that closing a tenant frees its graph memory.
//
// hnswlib-node deletes a wrapper's native index only in the wrapper's C++ destructor, which runs when V8 collects the
// JS object; V8 does not know about the native memory behind it and collects rarely, so every closed graph stayed in
// memory (touching 1,500 tenants in turn with 8 open took a node past 3 GB and rising). What does free it at once is
// `initIndex(...)` or `readIndex(...)` on the same wrapper: both delete the wrapper's previous native index first. So a
// closed graph's wrapper comes back here, is shrunk at once to a one-element index (its data arrays are released), and
// the next graph of the same space and dimension reuses it instead of allocating a wrapper the collector would have to
// find. A shrunk wrapper still holds hnswlib's fixed per-index cost (65,536 label mutexes, about 2.6 MB), so at most
// `max` of them wait idle; beyond that a released wrapper is dropped (after shrinking) for the collector.
//
// One hazard: the addon's readIndex deletes the old index and, if loading the file then fails, leaves the wrapper
// pointing at the deleted index (it is not reset). Any later call, or the wrapper's destructor, would free it twice.
// Such a wrapper is retired: kept referenced for the life of the process (in a module-level set, so that it outlives
// the pool that retired it) and never touched again, and reported to the observer (`hnsw_wrapper_retired`): each one
// holds native memory that is never freed. Node still runs wrapper destructors when a process ends by running out of
// work (environment teardown), so a process holding a retired wrapper must end with process.exit(), as the services do
// (shared/process/entry.ts), or it crashes on the way out.
import fs from 'node:fs/promises';
import hnswlib from 'hnswlib-node';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';

export type HNSW = InstanceType<typeof hnswlib.HierarchicalNSW>;
export type HnswSpace = 'cosine' | 'l2' | 'ip';

export interface HnswInitParams {
  maxElements: number;
  m: number;
  efConstruction: number;
  randomSeed?: number;
  allowReplaceDeleted?: boolean;
}

export interface HnswPoolStats {
  /** Wrappers waiting for reuse (each holds a one-element index). */
  idle: number;
  /** Wrappers constructed because none of the right space and dimension was idle. */
  created: number;
  /** Acquisitions served by an idle wrapper. */
  reused: number;
  /** Released wrappers dropped because `max` were idle already (the collector frees them). */
  dropped: number;
  /** Wrappers whose native index pointer dangles after a failed call: kept, never used again. */
  retired: number;
}

/** hnswlib's fixed native cost of one index: MAX_LABEL_OPERATION_LOCKS (65,536) std::mutex of 40 bytes each, plus the object. */
export const HNSW_FIXED_BYTES = 65_536 * 40 + 4096;

/**
 * Native bytes per element of capacity: the level-0 record (2M links + count, the vector, the label), the upper-level
 * pointer, a link-list mutex, the level number and the visited-list slot.
 */
export function hnswBytesPerElement(dimension: number, m: number): number {
  return 2 * m * 4 + 4 + dimension * 4 + 8 + 8 + 40 + 4 + 2;
}

/** Native bytes per inserted element beyond capacity: its label-map node and, on average, its upper-level links. */
export function hnswBytesPerVector(m: number): number {
  return 48 + Math.ceil((m * 4 + 4 + 16) / Math.log(Math.max(m, 2)));
}

/**
 * Retired wrappers of every pool, referenced for the life of the process: a pool that is itself collected (a test's,
 * a benchmark's) must not let its retired wrappers be collected, whose destructors would free a freed index.
 */
const RETIRED = new Set<HNSW>();

interface Entry {
  key: string;
  /** The wrapper holds a native index (freshly constructed wrappers do not). */
  hasIndex: boolean;
}

export class HnswPool {
  private readonly idle = new Map<string, HNSW[]>();
  private idleCount = 0;
  private readonly entries = new WeakMap<HNSW, Entry>();
  /** Wrappers this pool retired (also held in RETIRED, so that they outlive the pool). */
  private retiredCount = 0;
  private counters = { created: 0, reused: 0, dropped: 0 };

  /** `observer`: where retired wrappers are reported when a call passes none (default: stderr). */
  constructor(
    private maxIdle: number,
    private readonly observer: EngineObserver = consoleObserver,
  ) {}

  get max(): number {
    return this.maxIdle;
  }

  /** Changes the idle bound; wrappers above a lowered bound are dropped at once. */
  set max(n: number) {
    this.maxIdle = Math.max(0, Math.floor(n));
    for (const list of this.idle.values()) {
      while (this.idleCount > this.maxIdle && list.length > 0) {
        list.pop();
        this.idleCount--;
        this.counters.dropped++;
      }
    }
  }

  get stats(): HnswPoolStats {
    return { idle: this.idleCount, ...this.counters, retired: this.retiredCount };
  }

  /** Bytes the idle wrappers hold natively (each a one-element index). */
  get idleBytes(): number {
    return this.idleCount * HNSW_FIXED_BYTES;
  }

  /** A wrapper holding an empty index with `params`: an idle one of the same space and dimension when there is one. */
  create(space: HnswSpace, dimension: number, params: HnswInitParams, observer?: EngineObserver): HNSW {
    const w = this.take(space, dimension);
    const entry = this.entries.get(w)!;
    try {
      w.initIndex({
        maxElements: params.maxElements,
        m: params.m,
        efConstruction: params.efConstruction,
        randomSeed: params.randomSeed ?? 100,
        allowReplaceDeleted: params.allowReplaceDeleted ?? false,
      });
    } catch (err) {
      // a failed allocation inside hnswlib may leave the old pointer behind (see the file comment)
      if (entry.hasIndex) this.retire(w, 'initIndex failed', err, observer);
      throw err;
    }
    entry.hasIndex = true;
    return w;
  }

  /**
   * A wrapper holding the index read from `file` (hnswlib reads it off the main thread). On failure the wrapper is
   * taken back (or retired when its old index pointer now dangles) and the error is thrown.
   */
  async load(space: HnswSpace, dimension: number, file: string, allowReplaceDeleted: boolean, observer?: EngineObserver): Promise<HNSW> {
    await fs.access(file); // a missing file fails here, before a wrapper is at stake
    const w = this.take(space, dimension);
    const entry = this.entries.get(w)!;
    try {
      await w.readIndex(file, allowReplaceDeleted);
    } catch (err) {
      if (entry.hasIndex) this.retire(w, `readIndex of ${file} failed`, err, observer);
      else this.release(w, observer);
      throw err;
    }
    entry.hasIndex = true;
    return w;
  }

  /**
   * Gives a wrapper back. Its index is replaced at once by a one-element index, which frees the graph's native memory
   * now rather than whenever V8 collects the wrapper. The caller must not use the wrapper afterwards, and must not
   * release it while an asynchronous call on it (writeIndex, readIndex) is in flight.
   */
  release(w: HNSW, observer?: EngineObserver): void {
    const entry = this.entries.get(w);
    if (!entry) throw new Error('HnswPool.release: not a pooled wrapper');
    if (RETIRED.has(w)) return;
    try {
      w.initIndex({ maxElements: 1, m: 2, efConstruction: 2, randomSeed: 100, allowReplaceDeleted: false });
      entry.hasIndex = true;
    } catch (err) {
      this.retire(w, 'shrinking a released graph failed', err, observer);
      return;
    }
    if (this.idleCount >= this.maxIdle) {
      this.counters.dropped++;
      return;
    }
    let list = this.idle.get(entry.key);
    if (!list) {
      list = [];
      this.idle.set(entry.key, list);
    }
    if (list.includes(w)) return; // released twice: keep one reference
    list.push(w);
    this.idleCount++;
  }

  /** Drops every idle wrapper (tests). */
  clear(): void {
    this.idle.clear();
    this.idleCount = 0;
  }

  private take(space: HnswSpace, dimension: number): HNSW {
    const key = `${space}:${dimension}`;
    const list = this.idle.get(key);
    const w = list?.pop();
    if (w) {
      this.idleCount--;
      this.counters.reused++;
      return w;
    }
    const fresh = new hnswlib.HierarchicalNSW(space, dimension);
    this.entries.set(fresh, { key, hasIndex: false });
    this.counters.created++;
    return fresh;
  }

  private retire(w: HNSW, why: string, err: unknown, observer = this.observer): void {
    if (RETIRED.has(w)) return;
    RETIRED.add(w);
    this.retiredCount++;
    observer.degraded(
      'hnsw_wrapper_retired',
      { space: this.entries.get(w)?.key, why, err: err instanceof Error ? err.message : String(err), retired: this.retiredCount },
      'an hnswlib graph object was left unusable by a failed call and is retired (its native memory is not freed)',
    );
  }
}

/** Idle wrappers kept by default (PERCOLATE_VECTOR_INDEX_POOL_MAX). */
export const HNSW_POOL_MAX_DEFAULT = 64;

const shared = new HnswPool(HNSW_POOL_MAX_DEFAULT);

/** The process-wide pool; `max`, when given, sets its idle bound (the node's PERCOLATE_VECTOR_INDEX_POOL_MAX). */
export function sharedHnswPool(max?: number): HnswPool {
  if (max !== undefined && max !== shared.max) shared.max = max;
  return shared;
}

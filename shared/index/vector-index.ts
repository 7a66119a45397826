// A persisted HNSW index (hnswlib-node, cosine) for one kind of one tenant.
//
// The LevelDB store is the source of truth: every vector lives in the store keyed by record id, and every index
// mutation is also appended to a log in the SAME write batch as the record. The HNSW graph on disk is a checkpoint
// (a directory `vidx-<kind>-<seq>` holding the graph and the label map, made visible by one atomic rename). On open we
// load the newest checkpoint and replay the log after its sequence, re-reading each logged id's current vector from
// the store, so a crash anywhere between the batch and a checkpoint neither loses nor duplicates a vector.
//
// Graph insertion is deferred (like a growing segment in Milvus or an unindexed segment in Qdrant): a committed vector
// first goes to a bounded in-memory pending set that searches scan exactly, and a background drain inserts it into
// the graph a few milliseconds at a time. So a write (or a replicated batch) is acknowledged after its LevelDB batch,
// not after HNSW insertion, and the event loop is never blocked for a whole batch's inserts. When the pending set is
// full, a put inserts the oldest pending vectors itself (backpressure). An id is never in the graph and pending at
// once: a pending update removes the id's old graph element, so the graph holds no stale vectors.
//
// On demand (`onDemand`, the node's default until a tenant is searched on it): a put is only logged (the LevelDB batch
// already holds the vector and its log entry) and the id's old graph element removed; no vector is kept in memory and
// no HNSW work is done on the write path, so a node (a replica above all) commits at the speed of its LevelDB batches.
// The logged vectors (the backlog) reach the graph in two ways: at low priority, once the process has had no write in
// progress (of any tenant: write-activity.ts) for `idleMs`, the store moves them into the pending set a chunk at a
// time and the drain inserts them (a write pauses both); and at once, when the tenant is searched here (`activate`):
// the store moves the whole backlog into the pending set, which searches scan exactly until the drain inserted it.
//
// Native memory: the hnswlib graph object comes from a process-wide pool (hnsw-pool.ts) and goes back to it on close,
// where its index is shrunk at once: hnswlib-node would otherwise free it only when V8 happens to collect the wrapper.
// A kind without vectors in its graph takes no graph object at all (the first insertion allocates it; until then
// the pending set answers searches exactly), and a checkpoint of an empty graph is only its label file.
//
// Nothing degrades silently: a rebuild from the store (a checkpoint unreadable, stale, inconsistent with its graph,
// or lost after the log was trimmed) and a graph object the pool had to retire are reported to the observer; a
// checkpoint that could not be written throws an error naming the kind and directory, which the store reports
// (`checkpoint_failed`). The bookkeeping (an id in the graph or pending, never both; the label maps and the graph's
// element count agreeing) is asserted after every applyPut and applyDelete at O(1): a broken invariant throws, since
// it would otherwise answer searches with wrong or missing records until the next rebuild.
import fs from 'node:fs/promises';
import path from 'node:path';
import { HNSW_FIXED_BYTES, hnswBytesPerElement, hnswBytesPerVector, sharedHnswPool, type HNSW, type HnswPool } from './hnsw-pool.js';
import { bufferToVector, seqKey, type BufferSublevel, type KeyRange, type StringSublevel } from '../rem/codec.js';
import { consoleObserver, type EngineObserver } from '../rem/observer.js';
import { SLICE_MS_DEFAULT } from '../rem/time-slice.js';
import { drainRestMs, IDLE_MS_DEFAULT, untilIdleMs } from './write-activity.js';

export interface VectorIndexOptions {
  dir: string;
  kind: string;
  dimension: number;
  m: number;
  efConstruction: number;
  efSearch: number;
  /** Store vectors by record id (source of truth). */
  vectors: BufferSublevel;
  /** Mutation log: zero-padded sequence -> record id. */
  log: StringSublevel;
  /** Committed vectors waiting for graph insertion at most (scanned exactly meanwhile); 0 inserts synchronously. */
  pendingMax?: number;
  /** Longest stretch the background drain inserts before yielding to the event loop. */
  drainSliceMs?: number;
  /**
   * On demand, before the tenant is served here: the share of one core (%) the drain takes, resting between slices
   * (default 100: it only yields). The graph of a tenant nobody searches here can wait; the cores are the node's
   * foreground work's and, on a shared machine, its neighbours'.
   */
  drainCpuPercent?: number;
  /**
   * Build the graph on demand: puts are logged, not inserted, until the backlog is moved (see the header). Off: every
   * put goes to the pending set and the graph at once.
   */
  onDemand?: boolean;
  /** On demand: the backlog is worked off once the process had no write in progress for this long (default 200 ms). */
  idleMs?: number;
  /** On demand: called (at most once per idle period) when the backlog should be moved into the pending set. */
  onIdleBacklog?: () => void;
  /** Where graph objects come from and go back to on close (default: the process-wide pool). */
  pool?: HnswPool;
  /** Where rebuilds and other degraded paths are reported (default: stderr). */
  observer?: EngineObserver;
}

interface Pending {
  vector: Float32Array;
  /** 1 / |vector|, for the exact cosine scan. */
  invNorm: number;
  /** Log sequence of the put, so a checkpoint knows what the graph does not yet hold. */
  seq: number;
}

export interface VectorHit {
  id: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}

interface LabelFile {
  seq: number;
  nextLabel: number;
  deleted: number;
  dimension: number;
  /** [id, label] pairs of live vectors. */
  labels: [string, number][];
}

const INITIAL_CAPACITY = 64;
/** The log is read in chunks this large at open: a few native calls per 100k entries instead of one per 16 KB. */
const LOG_READ_ENTRIES = 4096;
const LOG_READ_BYTES = 1 << 20;
/** Rough V8 cost of one id in both label maps (two Map entries, the id string's header; its characters are added). */
const LABEL_ENTRY_BYTES = 112;
/** Rough V8 cost of one pending entry beside its vector's bytes (Map entry, object, Float32Array and its buffer). */
const PENDING_ENTRY_BYTES = 200;

export class VectorIndex {
  readonly kind: string;
  readonly dimension: number;
  /** The graph; undefined while it holds no vector (taken from the pool at the first insertion) and after close. */
  private index: HNSW | undefined;
  private labelOf = new Map<string, number>();
  private idOf = new Map<number, string>();
  private nextLabel = 0;
  private deleted = 0;
  /** Sequence of the last logged mutation, and of the last checkpoint. */
  private seq = 0;
  private checkpointSeq = 0;
  /** Set after a rebuild from the store: the graph differs from every checkpoint on disk. */
  private rebuilt = false;
  private readonly opts: VectorIndexOptions;
  /** Committed vectors not yet in the graph, oldest first (Map keeps insertion order). */
  private pending = new Map<string, Pending>();
  /** The drain's next turn: the next slice at once, or after a wait (idleness, a rest). One of them at a time. */
  private drainImmediate: NodeJS.Immediate | undefined;
  private drainTimeout: NodeJS.Timeout | undefined;
  /** On demand and not yet activated: puts go to the backlog. */
  private lazy: boolean;
  /** First log sequence whose put neither the graph nor the pending set reflects (undefined: no backlog). */
  private backlogFrom: number | undefined;
  /** Puts logged into the backlog and not yet moved (an estimate: a record put twice counts twice). */
  private backlogCount = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set while a checkpoint writes the graph (hnswlib writes it off the main thread) and after close. */
  private drainPaused = false;
  private closed = false;
  private readonly scratch: number[];
  private readonly pool: HnswPool;
  private readonly observer: EngineObserver;
  /** The checkpoint's writeIndex in flight: the graph object must not go back to the pool before it settles. */
  private writing: Promise<unknown> | undefined;

  private constructor(opts: VectorIndexOptions) {
    this.opts = opts;
    this.pool = opts.pool ?? sharedHnswPool();
    this.observer = opts.observer ?? consoleObserver;
    this.kind = opts.kind;
    this.dimension = opts.dimension;
    this.scratch = new Array<number>(opts.dimension).fill(0);
    this.lazy = opts.onDemand ?? false;
  }

  static async open(opts: VectorIndexOptions): Promise<VectorIndex> {
    const vi = new VectorIndex(opts);
    try {
      await vi.load();
    } catch (err) {
      vi.close(); // gives a graph object taken during the load back to the pool
      throw err;
    }
    return vi;
  }

  /** Live vectors: in the graph or pending insertion. */
  get size(): number {
    return this.labelOf.size + this.pending.size;
  }

  /** Mutations logged since the last checkpoint that a checkpoint could cover now (not the backlog's). */
  get pendingOps(): number {
    // O(1) (the store asks after every commit): the backlog bound only; the checkpoint itself computes coveredSeq()
    const upTo = this.backlogFrom === undefined ? this.seq : this.backlogFrom - 1;
    return Math.max(0, upTo - this.checkpointSeq) + (this.rebuilt ? 1 : 0);
  }

  /** Logged puts not yet moved to the pending set or the graph (on demand). */
  get backlog(): number {
    return this.backlogFrom === undefined ? 0 : this.backlogCount;
  }

  /** Whether puts go to the backlog (on demand, not activated). */
  get isLazy(): boolean {
    return this.lazy;
  }

  /** Committed vectors not yet inserted into the graph (searched exactly until they are). */
  get pendingInserts(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.labelOf.has(id) || this.pending.has(id);
  }

  /** Allocates the next log sequence for a batch that puts or deletes the vector of `id`. */
  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * Applies a committed put (called after the LevelDB batch succeeded; `seq` is the put's log sequence). Deferred to
   * the pending set unless deferral is off; a full pending set inserts its oldest entries first.
   */
  applyPut(id: string, vector: Float32Array | number[], seq = this.seq): void {
    if (this.closed) return; // committed and logged: the next open replays it
    if (this.lazy) {
      // logged in the batch that committed it: the backlog is its log entry, nothing is held in memory
      this.pending.delete(id);
      this.removeFromGraph(id);
      this.backlogFrom ??= seq;
      this.backlogCount++;
      this.assertConsistent(id);
      this.scheduleIdle();
      return;
    }
    const max = this.opts.pendingMax ?? 0;
    if (max <= 0) {
      this.insert(id, vector);
      this.assertConsistent(id);
      return;
    }
    const v = vector instanceof Float32Array ? vector : Float32Array.from(vector);
    this.removeFromGraph(id); // the graph must not answer with the old vector while the new one is pending
    this.pending.delete(id); // re-inserted at the end: the map stays ordered by sequence
    this.setPending(id, v, seq);
    while (this.pending.size > max) this.insertOldestPending();
    this.assertConsistent(id);
    this.scheduleDrain();
  }

  applyDelete(id: string): void {
    if (this.closed) return;
    this.pending.delete(id);
    this.removeFromGraph(id);
    this.assertConsistent(id);
  }

  /**
   * O(1) checks of the bookkeeping after a mutation of `id`: the id is in the graph or pending, not both; both label
   * maps have one entry per graph vector; the graph's element count is its live vectors plus its deleted slots (a
   * label map that drifted from the graph would answer with wrong ids or never find a vector again).
   */
  private assertConsistent(id?: string): void {
    let broken: string | undefined;
    if (id !== undefined && this.labelOf.has(id) && this.pending.has(id)) broken = `'${id}' is both in the graph and pending`;
    else if (this.labelOf.size !== this.idOf.size) broken = `label maps disagree (${this.labelOf.size} ids, ${this.idOf.size} labels)`;
    else if (this.deleted < 0) broken = `${this.deleted} deleted slots`;
    else if (!this.index) {
      if (this.labelOf.size > 0 || this.deleted > 0) broken = `${this.labelOf.size} graph vectors and ${this.deleted} deleted slots without a graph`;
    } else if (this.index.getCurrentCount() !== this.labelOf.size + this.deleted) {
      broken = `the graph holds ${this.index.getCurrentCount()} elements, the label map ${this.labelOf.size} vectors and ${this.deleted} deleted slots`;
    }
    if (broken) throw new Error(`vector index '${this.kind}' invariant broken: ${broken}`);
  }

  /**
   * Serves the graph from now on: later puts go to the pending set and the graph as without `onDemand`. The backlog
   * is still to be moved (moveBacklog), which the store does next.
   */
  activate(): void {
    if (!this.lazy) return;
    this.lazy = false;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.scheduleDrain();
  }

  /**
   * Moves up to `limit` backlog entries (log order) into the pending set, reading each id's current vector from the
   * store: the drain inserts them and searches scan them exactly meanwhile. An id already pending or in the graph was
   * put there from a read after its last logged put, and is left alone; an id without a stored vector was deleted.
   * The caller holds the tenant's write lock (no commit may change a vector between the read and the move). Returns
   * the entries moved; 0 when the backlog is empty.
   */
  async moveBacklog(limit: number): Promise<number> {
    if (this.closed || this.backlogFrom === undefined) return 0;
    const entries = await this.opts.log.iterator({ gte: seqKey(this.backlogFrom), lte: seqKey(this.seq), limit }).all();
    const ids = [...new Set(entries.map(([, id]) => id).filter((id) => !this.pending.has(id) && !this.labelOf.has(id)))];
    const vectors = ids.length > 0 ? await this.opts.vectors.getMany(ids) : [];
    if (this.closed) return 0;
    const seqOf = new Map<string, number>();
    for (const [key, id] of entries) seqOf.set(id, Number(key));
    ids.forEach((id, i) => {
      const buf = vectors[i];
      if (buf) this.setPending(id, bufferToVector(buf), seqOf.get(id)!);
    });
    const last = entries.at(-1);
    if (!last || Number(last[0]) >= this.seq) {
      this.backlogFrom = undefined;
      this.backlogCount = 0;
    } else {
      this.backlogFrom = Number(last[0]) + 1;
      this.backlogCount = Math.max(0, this.backlogCount - entries.length);
    }
    this.assertConsistent();
    this.scheduleDrain();
    return entries.length;
  }

  private setPending(id: string, v: Float32Array, seq: number): void {
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
    this.pending.set(id, { vector: v, invNorm: norm > 0 ? 1 / Math.sqrt(norm) : 0, seq });
  }

  /** The highest log sequence the graph and the pending set reflect completely (a checkpoint covers at most this). */
  private coveredSeq(): number {
    let seq = this.backlogFrom === undefined ? this.seq : this.backlogFrom - 1;
    // pending entries moved from the backlog are not in sequence order: the oldest is not necessarily first
    for (const p of this.pending.values()) if (p.seq - 1 < seq) seq = p.seq - 1;
    return seq;
  }

  /** On demand: asks the store to move the backlog once puts paused for idleMs. */
  private scheduleIdle(): void {
    if (this.idleTimer || this.closed || !this.opts.onIdleBacklog) return;
    const check = () => {
      this.idleTimer = undefined;
      if (this.closed || !this.lazy || this.backlogFrom === undefined) return;
      const waitMs = this.untilIdleMs();
      // only once the pending set is drained: the backlog moves a pending set's worth at a time
      if (waitMs > 0 || this.pending.size > 0) {
        this.idleTimer = setTimeout(check, waitMs > 0 ? waitMs : this.idleMs());
        return;
      }
      this.opts.onIdleBacklog?.();
    };
    this.idleTimer = setTimeout(check, this.idleMs());
    this.idleTimer.unref?.();
  }

  private idleMs(): number {
    return this.opts.idleMs ?? IDLE_MS_DEFAULT;
  }

  /** How long until the process counts as idle for low-priority work (0: it is). */
  private untilIdleMs(): number {
    return untilIdleMs(this.idleMs());
  }

  /** Inserts every pending vector now (tests, benchmarks and shutdown paths that want the graph complete). */
  flushPending(): void {
    while (this.pending.size > 0) this.insertOldestPending();
  }

  /**
   * Stops the background drain and gives the graph back to the pool (which frees its memory at once); pending vectors
   * stay in the log and are replayed at the next open. The index is unusable afterwards. Callers close after the last
   * checkpoint under the tenant's write lock; a checkpoint write still in flight delays the release until it is done.
   */
  close(): void {
    this.closed = true;
    this.drainPaused = true;
    this.clearDrainTimer();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.pending.clear();
    const index = this.index;
    this.index = undefined;
    if (!index) return;
    // a failed write is the checkpoint's to report (it awaits the same promise): here it only delays the release
    if (this.writing) void this.writing.catch(() => undefined).then(() => this.pool.release(index, this.observer));
    else this.pool.release(index, this.observer);
  }

  /** Whether the graph object is allocated (a kind that never held a graph vector has none). */
  get hasGraph(): boolean {
    return this.index !== undefined;
  }

  /** Elements the graph has room for before it grows (0 without a graph). */
  get capacity(): number {
    return this.index?.getMaxElements() ?? 0;
  }

  /**
   * Estimated memory held for this index, in bytes: the hnswlib graph (its fixed cost, capacity x per-element bytes,
   * and per inserted element its label-map node and upper-level links), both label maps, and the pending vectors.
   * An upper bound for the graph's native part: untouched capacity may not be resident yet.
   */
  memoryEstimateBytes(): number {
    let bytes = 0;
    const index = this.index;
    if (index) {
      bytes += HNSW_FIXED_BYTES + index.getMaxElements() * hnswBytesPerElement(this.dimension, this.opts.m);
      bytes += index.getCurrentCount() * hnswBytesPerVector(this.opts.m);
    }
    // O(1), so that a metrics scrape over every open tenant stays cheap: ids are taken to be as long as the first one
    const idLength = (this.labelOf.keys().next().value ?? this.pending.keys().next().value ?? '').length;
    bytes += this.labelOf.size * (LABEL_ENTRY_BYTES + idLength);
    bytes += this.pending.size * (PENDING_ENTRY_BYTES + this.dimension * 4 + idLength);
    return bytes;
  }

  /** The graph, taken from the pool at the first insertion. */
  private graph(): HNSW {
    if (this.index) return this.index;
    if (this.closed) throw new Error(`vector index '${this.kind}' is closed`);
    this.index = this.pool.create(
      'cosine',
      this.dimension,
      {
        maxElements: INITIAL_CAPACITY,
        m: this.opts.m,
        efConstruction: this.opts.efConstruction,
        randomSeed: 100,
        allowReplaceDeleted: true,
      },
      this.observer,
    );
    return this.index;
  }

  private insert(id: string, vector: Float32Array | number[]): void {
    const index = this.graph();
    const point = this.toPoint(vector);
    const existing = this.labelOf.get(id);
    if (existing !== undefined) {
      index.addPoint(point, existing);
      return;
    }
    const label = this.nextLabel++;
    if (this.deleted > 0) {
      // reuse the slot of a deleted element instead of growing the graph forever
      index.addPoint(point, label, true);
      this.deleted--;
    } else {
      this.ensureCapacity(index, index.getCurrentCount() + 1);
      index.addPoint(point, label);
    }
    this.labelOf.set(id, label);
    this.idOf.set(label, id);
  }

  /**
   * hnswlib-node takes points as JS arrays only (it reads them element by element and copies). One scratch array,
   * refilled per call, spares a 384-element allocation per insert and query: garbage that showed up as a few percent
   * of ingest time.
   */
  private toPoint(v: Float32Array | number[]): number[] {
    if (Array.isArray(v)) return v;
    const p = this.scratch;
    for (let i = 0; i < v.length; i++) p[i] = v[i]!;
    return p;
  }

  private removeFromGraph(id: string): void {
    const label = this.labelOf.get(id);
    if (label === undefined) return;
    if (!this.index) throw new Error(`vector index '${this.kind}' invariant broken: '${id}' has label ${label} but there is no graph`);
    this.index.markDelete(label);
    this.deleted++;
    this.labelOf.delete(id);
    this.idOf.delete(label);
  }

  private insertOldestPending(): void {
    const first = this.pending.entries().next();
    if (first.done) return;
    const [id, p] = first.value;
    this.pending.delete(id);
    this.insert(id, p.vector);
  }

  private clearDrainTimer(): void {
    // each handle to its own clear: clearImmediate() given a Timeout decrements the process's count of pending
    // immediates, after which the event loop blocks in its poll phase with immediates queued (every setImmediate of
    // the process, time slices included, then waits for the next timer or I/O)
    if (this.drainImmediate) clearImmediate(this.drainImmediate);
    if (this.drainTimeout) clearTimeout(this.drainTimeout);
    this.drainImmediate = this.drainTimeout = undefined;
  }

  private scheduleDrain(): void {
    if (this.drainImmediate || this.drainTimeout || this.drainPaused || this.pending.size === 0) return;
    // on demand the backlog is low-priority work: the drain waits while puts keep arriving
    const waitMs = this.lazy ? this.untilIdleMs() : 0;
    if (waitMs > 0) {
      this.drainAfter(waitMs);
      return;
    }
    this.drainImmediate = setImmediate(() => {
      this.drainImmediate = undefined;
      if (this.drainPaused) return;
      const started = performance.now();
      const until = started + (this.opts.drainSliceMs ?? SLICE_MS_DEFAULT);
      while (this.pending.size > 0 && performance.now() < until) this.insertOldestPending();
      if (this.pending.size === 0 && this.lazy && this.backlogFrom !== undefined) this.scheduleIdle();
      const restMs = this.lazy ? drainRestMs(performance.now() - started, this.opts.drainCpuPercent ?? 100) : 0;
      if (restMs < 1) this.scheduleDrain();
      else this.drainAfter(restMs);
    });
  }

  /** Schedules the drain again in `ms` (a wait for idleness, or a rest within the drain's share of a core). */
  private drainAfter(ms: number): void {
    this.drainTimeout = setTimeout(() => {
      this.drainTimeout = undefined;
      this.scheduleDrain();
    }, ms);
    this.drainTimeout.unref?.();
  }

  /**
   * k nearest live vectors. `accept` filters by record id inside the graph walk (hnswlib's filter callback), so a
   * selective filter still returns k results when they exist.
   */
  search(query: Float32Array | number[], k: number, ef?: number, accept?: (id: string) => boolean): VectorHit[] {
    if (this.closed) throw new Error(`vector index '${this.kind}' is closed`);
    if (k <= 0 || this.size === 0) return [];
    const hits: VectorHit[] = [];
    if (this.labelOf.size > 0 && this.index) {
      const kk = Math.min(k, this.labelOf.size, this.index.getMaxElements());
      this.index.setEf(Math.max(ef ?? this.opts.efSearch, kk));
      const point = this.toPoint(query);
      const filter = accept
        ? (label: number) => {
            const id = this.idOf.get(label);
            return id !== undefined && accept(id);
          }
        : undefined;
      const res = this.index.searchKnn(point, kk, filter);
      for (let i = 0; i < res.neighbors.length; i++) {
        const id = this.idOf.get(res.neighbors[i]!);
        if (id !== undefined) hits.push({ id, score: 1 - res.distances[i]! });
      }
    }
    if (this.pending.size === 0) return hits;
    // exact cosine over the pending vectors, merged with the graph's answer
    const q = query instanceof Float32Array ? query : Float32Array.from(query);
    let qNorm = 0;
    for (let i = 0; i < q.length; i++) qNorm += q[i]! * q[i]!;
    const qInv = qNorm > 0 ? 1 / Math.sqrt(qNorm) : 0;
    for (const [id, p] of this.pending) {
      if (accept && !accept(id)) continue;
      const v = p.vector;
      let dot = 0;
      for (let i = 0; i < v.length; i++) dot += v[i]! * q[i]!;
      hits.push({ id, score: dot * p.invNorm * qInv });
    }
    hits.sort((a, b) => b.score - a.score);
    if (hits.length > k) hits.length = k;
    return hits;
  }

  /** Writes a checkpoint and trims the log. The caller must hold the tenant's write lock (no concurrent mutation). */
  async checkpoint(): Promise<void> {
    // closed: the graph went back to the pool (a checkpoint queued behind the close has nothing to write)
    if (this.closed) return;
    try {
      await this.writeCheckpoint();
    } catch (err) {
      // reported once, by the caller that decides what happens next (the store logs checkpoint_failed and serves on):
      // the log is kept (it is trimmed only after the rename), so the next open replays what this one missed
      throw new Error(`vector index '${this.kind}' checkpoint in ${this.opts.dir} failed (log kept from ${this.checkpointSeq}): ${errorText(err)}`, { cause: err });
    }
  }

  private async writeCheckpoint(): Promise<void> {
    // The checkpoint covers the log up to just before the oldest pending or backlog put: everything logged up to there
    // is in the graph. Later entries are replayed at open, and replaying a put the graph already holds is harmless.
    const seq = this.coveredSeq();
    if (seq <= this.checkpointSeq && !this.rebuilt) return;
    const final = path.join(this.opts.dir, `vidx-${this.kind}-${seqKey(seq)}`);
    const tmp = `${final}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true });
    // the graph's element count is the labels' plus the deleted slots: a checkpoint that broke this would load wrong
    this.assertConsistent();
    // the label map and the graph must be the same moment's: no insertion until the graph is written
    this.drainPaused = true;
    let labels: LabelFile;
    try {
      labels = {
        seq,
        nextLabel: this.nextLabel,
        deleted: this.deleted,
        dimension: this.dimension,
        labels: [...this.labelOf.entries()],
      };
      // no graph object (nothing was ever inserted): the label file alone describes the empty graph
      if (this.index) {
        this.writing = this.index.writeIndex(path.join(tmp, 'graph.bin'));
        await this.writing;
      }
    } finally {
      this.writing = undefined;
      this.drainPaused = this.closed;
      this.scheduleDrain();
    }
    // a failure leaves `tmp` behind: never loaded (newestCheckpoint skips it), removed by the next checkpoint
    await fs.writeFile(path.join(tmp, 'labels.json'), JSON.stringify(labels));
    await fs.rename(tmp, final);
    this.checkpointSeq = seq;
    this.rebuilt = false;
    await this.opts.log.clear({ lte: seqKey(seq) });
    await this.removeCheckpointsExcept(path.basename(final));
  }

  private async removeCheckpointsExcept(keep: string): Promise<void> {
    const prefix = `vidx-${this.kind}-`;
    for (const name of await fs.readdir(this.opts.dir)) {
      if (name.startsWith(prefix) && name !== keep) await fs.rm(path.join(this.opts.dir, name), { recursive: true, force: true });
    }
  }

  private ensureCapacity(index: HNSW, needed: number): void {
    const max = index.getMaxElements();
    if (needed <= max) return;
    let next = max;
    while (next < needed) next = Math.max(INITIAL_CAPACITY, next * 2);
    index.resizeIndex(next);
  }

  /** Gives the graph object back to the pool (its memory is freed at once) and forgets the graph's labels. */
  private dropGraph(): void {
    const index = this.index;
    this.index = undefined;
    this.labelOf.clear();
    this.idOf.clear();
    this.nextLabel = 0;
    this.deleted = 0;
    if (index) this.pool.release(index, this.observer);
  }

  /** The newest complete checkpoint's directory name, or why there is none to load. */
  private async newestCheckpoint(): Promise<{ name: string } | { missing: string; expected: boolean }> {
    const prefix = `vidx-${this.kind}-`;
    let names: string[];
    try {
      names = await fs.readdir(this.opts.dir);
    } catch (err) {
      // a store directory that does not exist yet holds no checkpoint; any other error is a reason for the rebuild
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { missing: `checkpoint directory unreadable: ${errorText(err)}`, expected: false };
      names = [];
    }
    const done = names.filter((n) => n.startsWith(prefix) && !n.includes('.tmp-')).sort();
    const name = done.at(-1);
    if (name) return { name };
    // no checkpoint yet is normal while the log still holds every mutation from the first (a kind never
    // checkpointed, or closed with all its vectors pending); a log trimmed past its start means one was lost
    const firstLog = await this.opts.log.keys({ limit: 1 }).all();
    const trimmed = firstLog[0] === undefined || Number(firstLog[0]) > 1;
    return { missing: trimmed ? 'checkpoint missing (the log was trimmed past it)' : 'no checkpoint yet', expected: !trimmed };
  }

  private async load(): Promise<void> {
    const lastLog = await this.opts.log.keys({ reverse: true, limit: 1 }).all();
    const lastLogSeq = lastLog[0] ? Number(lastLog[0]) : 0;
    const newest = await this.newestCheckpoint();
    let reason: string | undefined;
    let expected = false;
    if ('name' in newest) {
      try {
        await this.loadCheckpoint(path.join(this.opts.dir, newest.name));
      } catch (err) {
        if (this.closed) throw err;
        reason = errorText(err);
        this.dropGraph();
      }
    } else {
      reason = newest.missing;
      expected = newest.expected;
    }
    if (reason !== undefined && expected && this.lazy) {
      // no checkpoint yet and the log complete from its first entry: the whole log is the backlog
      this.dropGraph();
      await this.replay(lastLogSeq);
      this.seq = Math.max(this.seq, lastLogSeq);
      this.assertConsistent();
      return;
    }
    if (reason !== undefined) {
      const started = performance.now();
      await this.rebuild(Math.max(lastLogSeq, 0));
      // a kind that holds no vector has nothing to rebuild (a new tenant, or a kind it does not use)
      if (!expected && ('name' in newest || this.labelOf.size > 0)) {
        this.observer.degraded(
          'vector_index_rebuilt',
          {
            kind: this.kind,
            reason,
            dir: this.opts.dir,
            checkpoint: 'name' in newest ? newest.name : undefined,
            vectors: this.labelOf.size,
            ms: Math.round(performance.now() - started),
          },
          'vector index rebuilt from the store: its checkpoint could not be used',
        );
      }
      return;
    }
    await this.replay(lastLogSeq);
    this.seq = Math.max(this.seq, lastLogSeq);
    this.assertConsistent();
  }

  /** Loads a checkpoint's label map and graph; throws (the caller rebuilds) when it is unreadable, stale or inconsistent. */
  private async loadCheckpoint(dir: string): Promise<void> {
    let labels: LabelFile;
    try {
      labels = JSON.parse(await fs.readFile(path.join(dir, 'labels.json'), 'utf8')) as LabelFile;
    } catch (err) {
      throw new Error(`label file unreadable: ${errorText(err)}`);
    }
    if (
      !labels ||
      !Array.isArray(labels.labels) ||
      !Number.isSafeInteger(labels.seq) ||
      !Number.isSafeInteger(labels.nextLabel) ||
      !Number.isSafeInteger(labels.deleted) ||
      labels.deleted < 0
    ) {
      throw new Error('label file malformed');
    }
    if (labels.dimension !== this.dimension) throw new Error(`dimension changed (${labels.dimension} in the checkpoint, ${this.dimension} now)`);
    // a log that was trimmed past this checkpoint means the checkpoint is stale: rebuild instead
    const firstLog = await this.opts.log.keys({ limit: 1 }).all();
    const firstLogSeq = firstLog[0] ? Number(firstLog[0]) : labels.seq + 1;
    if (firstLogSeq > labels.seq + 1) throw new Error(`stale: the log starts at ${firstLogSeq}, after the checkpoint's ${labels.seq}`);
    // an empty graph (never filled, or every element deleted) is not loaded: the first insertion starts a new one
    const empty = labels.labels.length === 0;
    if (!empty) {
      try {
        this.index = await this.pool.load('cosine', this.dimension, path.join(dir, 'graph.bin'), true, this.observer);
      } catch (err) {
        throw new Error(`graph unreadable: ${errorText(err)}`);
      }
    }
    if (this.closed) throw new Error(`vector index '${this.kind}' was closed while loading`);
    this.nextLabel = empty ? 0 : labels.nextLabel;
    this.deleted = empty ? 0 : labels.deleted;
    for (const [id, label] of labels.labels) {
      if (typeof id !== 'string' || !Number.isSafeInteger(label) || label < 0 || label >= this.nextLabel) throw new Error('label file malformed');
      this.labelOf.set(id, label);
      this.idOf.set(label, id);
    }
    // the label file and the graph are written at one moment: counts that disagree mean one of them is damaged
    if (this.labelOf.size !== labels.labels.length || this.idOf.size !== labels.labels.length) throw new Error('label file lists an id or a label twice');
    const count = this.index?.getCurrentCount() ?? 0;
    if (!empty && count !== this.labelOf.size + this.deleted) {
      throw new Error(`graph holds ${count} elements, the label file ${this.labelOf.size} vectors and ${this.deleted} deleted slots`);
    }
    this.seq = this.checkpointSeq = labels.seq;
  }

  /**
   * Re-applies logged mutations after the checkpoint, reading each id's current vector from the store. On demand
   * they become the backlog instead: their (possibly stale) graph elements are removed and nothing is inserted.
   */
  private async replay(lastLogSeq: number): Promise<void> {
    if (this.lazy && this.labelOf.size === 0) {
      // no graph element can be stale: the log after the checkpoint is the backlog as it stands, and reading it here
      // would cost a replica's restart ~6 ms per 1,000 logged puts (its count is an estimate, like the live one);
      // the caller moves seq up to lastLogSeq
      if (lastLogSeq > this.checkpointSeq) {
        this.backlogFrom = this.checkpointSeq + 1;
        this.backlogCount = lastLogSeq - this.checkpointSeq;
        this.scheduleIdle();
      }
      return;
    }
    const seen = new Set<string>();
    const range: KeyRange = { gt: seqKey(this.checkpointSeq), highWaterMarkBytes: LOG_READ_BYTES };
    const it = this.opts.log.iterator(range);
    try {
      for (let entries = await it.nextv(LOG_READ_ENTRIES); entries.length > 0; entries = await it.nextv(LOG_READ_ENTRIES)) {
        for (const [key, id] of entries) {
          this.seq = Math.max(this.seq, Number(key));
          seen.add(id);
        }
      }
    } finally {
      await it.close();
    }
    if (this.lazy && seen.size > 0) {
      for (const id of seen) this.removeFromGraph(id);
      this.backlogFrom = this.checkpointSeq + 1;
      this.backlogCount = seen.size;
      this.scheduleIdle();
      return;
    }
    const ids = [...seen];
    const vectors = ids.length > 0 ? await this.opts.vectors.getMany(ids) : [];
    ids.forEach((id, i) => {
      const buf = vectors[i];
      if (buf) this.insert(id, bufferToVector(buf));
      else this.removeFromGraph(id);
    });
  }

  /** Builds the graph from every vector in the store (first open, lost or unreadable checkpoint). */
  private async rebuild(seq: number): Promise<void> {
    this.dropGraph(); // the first stored vector takes a graph object from the pool
    for await (const [id, buf] of this.opts.vectors.iterator()) this.insert(id, bufferToVector(buf));
    // the whole log is reflected in the freshly built graph; the next checkpoint records that
    this.seq = this.checkpointSeq = seq;
    this.rebuilt = this.labelOf.size > 0 || seq > 0;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

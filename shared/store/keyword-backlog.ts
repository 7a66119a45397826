// Keyword postings on demand: while a tenant is not searched on this node, a commit does not index its records'
// text (tokenising and about ten posting, document and frequency keys per record: half of what a replicated
// document costs to apply). It logs the changed ids instead, one short key each in the same LevelDB batch as the
// record, so the log is as durable as the write. The logged ids (the backlog) are indexed from their current records
// in two ways: at low priority, once the process had no write in progress for `idleMs` (write-activity.ts), a chunk
// at a time within `drainCpuPercent` of a core; and all at once when the tenant's keyword index is searched here
// (`serve`), which the search waits for, so a keyword search never misses a committed record.
//
// Indexing an id reads its record as it is now, under the tenant's write lock, and the keyword index replaces the
// postings that id had (or removes them when the record is gone): an id logged twice, or indexed by a later commit
// already, is indexed again to the same result. So the backlog's order does not matter and a crash between a commit
// and its drain loses nothing (the log entry and the record committed together; the drain's postings and the
// removal of its log entries commit together too).
import type { EngineObserver } from '../rem/observer.js';
import { seqKey, type BatchOp, type StringSublevel } from '../rem/codec.js';
import type { KeywordIndex } from '../index/keyword-index.js';
import { drainRestMs, IDLE_MS_DEFAULT, untilIdleMs } from '../index/write-activity.js';
import type { StoreOp } from './batch-writer.js';
import type { Mutex } from './mutex.js';

export interface KeywordBacklogOptions {
  kind: string;
  /** `kwq-<kind>`: log sequence -> record id. */
  log: StringSublevel;
  keyword: KeywordIndex;
  /** Log instead of indexing until `serve` (else every commit indexes at once, and only an old backlog is drained). */
  onDemand: boolean;
  /** The low-priority drain starts once the process had no write in progress this long (default 200 ms). */
  idleMs?: number;
  /** Share of one core (%) the low-priority drain takes at most (default 100). */
  drainCpuPercent?: number;
  /** The tenant's write lock: the drain reads records and writes postings under it. */
  lock: Mutex;
  /** Keyword text of each id's current record; null where the record does not exist (read under the lock). */
  texts(ids: readonly string[]): Promise<(string | null)[]>;
  /** Commits one batch of the tenant's database. */
  write(ops: readonly StoreOp[]): Promise<void>;
  observer: EngineObserver;
}

/** Ids indexed per write-lock hold: about 20-40 ms of tokenising and postings, so writes interleave. */
export const KEYWORD_BACKLOG_CHUNK = 512;

export class KeywordBacklog {
  private lazy: boolean;
  /** Last allocated log sequence. */
  private seq = 0;
  /** Key of the last entry drained: reads start after it, not over the drained entries' tombstones. */
  private head: string | undefined;
  /** Entries logged and not yet drained (exact unless a batch failed after allocating sequences: then more). */
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private serving: Promise<void> | undefined;
  private closed = false;

  private constructor(private readonly o: KeywordBacklogOptions) {
    this.lazy = o.onDemand;
  }

  static async open(o: KeywordBacklogOptions): Promise<KeywordBacklog> {
    const b = new KeywordBacklog(o);
    const [[first], [last]] = await Promise.all([o.log.keys({ limit: 1 }).all(), o.log.keys({ reverse: true, limit: 1 }).all()]);
    if (first !== undefined && last !== undefined) {
      b.seq = Number(last);
      b.count = b.seq - Number(first) + 1;
    }
    return b;
  }

  /**
   * Starts the low-priority drain of a backlog left from before, on demand or not (a search drains it at once).
   * Called once the store is open: the drain reads records through it.
   */
  start(): void {
    this.scheduleIdle();
  }

  /** Ids logged and not yet indexed (an estimate: an id logged twice counts twice). */
  get size(): number {
    return this.count;
  }

  /** Whether commits log ids instead of indexing them. */
  get logging(): boolean {
    return this.lazy;
  }

  /**
   * Log entries for the ids a commit changes, to go into its batch (the caller holds the write lock); `committed`
   * counts them once the batch is written.
   */
  entries(ids: readonly string[]): { ops: BatchOp[]; committed(): void } {
    const ops: BatchOp[] = ids.map((id) => ({ type: 'put', sublevel: this.o.log, key: seqKey(++this.seq), value: id }));
    return {
      ops,
      committed: () => {
        this.count += ops.length;
        this.scheduleIdle();
      },
    };
  }

  /**
   * The tenant's keyword index is searched here: commits index at once from now on, and the backlog is indexed a
   * chunk per write-lock hold. Resolves once it is empty. Idempotent.
   */
  serve(): Promise<void> {
    this.lazy = false;
    if (this.count === 0) return Promise.resolve();
    this.serving ??= (async () => {
      while (!this.closed && (await this.o.lock.run(() => this.drain(KEYWORD_BACKLOG_CHUNK))) > 0);
    })().finally(() => {
      this.serving = undefined;
    });
    return this.serving;
  }

  /** Indexes up to `limit` logged entries, oldest first, and removes them in the same batch. Returns how many. */
  private async drain(limit: number): Promise<number> {
    if (this.closed || this.count === 0) return 0;
    const entries = await this.o.log.iterator({ ...(this.head !== undefined ? { gt: this.head } : {}), limit }).all();
    if (entries.length === 0) {
      this.count = 0;
      return 0;
    }
    const ids = [...new Set(entries.map(([, id]) => id))];
    const texts = await this.o.texts(ids);
    const pending = await this.o.keyword.prepare(ids.map((id, i) => ({ id, text: texts[i]! })));
    const ops: StoreOp[] = pending.ops;
    for (const [key] of entries) ops.push({ type: 'del', sublevel: this.o.log, key });
    if (this.closed) return 0;
    await this.o.write(ops);
    pending.apply();
    this.head = entries.at(-1)![0];
    this.count = entries.length < limit ? 0 : Math.max(0, this.count - entries.length);
    return entries.length;
  }

  /** Low priority: once the process is idle, drains a chunk, rests within its share of a core, and goes on. */
  private scheduleIdle(waitMs = this.idleMs): void {
    if (this.timer || this.closed || this.count === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      const untilMs = untilIdleMs(this.idleMs);
      if (untilMs > 0) {
        this.scheduleIdle(untilMs);
        return;
      }
      const started = performance.now();
      this.o.lock
        .run(() => this.drain(KEYWORD_BACKLOG_CHUNK))
        .then(
          () => this.scheduleIdle(Math.max(1, drainRestMs(performance.now() - started, this.o.drainCpuPercent ?? 100))),
          (err: unknown) => {
            if (this.closed) return;
            this.o.observer.degraded('keyword_backlog_failed', { kind: this.o.kind, err: String(err) }, 'indexing logged records for keyword search failed; the next search or idle period retries');
            this.scheduleIdle();
          },
        );
    }, waitMs);
    this.timer.unref?.();
  }

  private get idleMs(): number {
    return this.o.idleMs ?? IDLE_MS_DEFAULT;
  }

  /** Stops the low-priority drain (the backlog stays logged for the next open). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

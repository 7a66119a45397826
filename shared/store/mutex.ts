// A FIFO async mutex: serialises a tenant's writers (merges read-modify-write and index statistics).
//
// Bounded: at most `waitersMax` callers wait for it (the holder is not counted); one more is refused at once with
// RemError('overloaded') (HTTP 503) instead of queueing without end. Local writes reach a tenant's lock through the
// group-commit queue (one waiter per drain), so the waiters are replicated batches (POST /sync, the applier), schema
// changes, a checkpoint and a close: the bound is reached only when one tenant is flooded far beyond what it commits.
import { RemError } from '../rem/errors.js';

/**
 * Callers that may wait for one mutex at most (no environment setting: a tenant's lock is never meant to queue deep).
 * A refused caller must handle the rejection: a refused checkpoint is retried by the next write, a refused close
 * cannot happen from eviction (only a store without leases, hence without waiting requests, is evicted).
 */
export const MUTEX_WAITERS_MAX_DEFAULT = 1024;

export interface MutexOptions {
  /** Callers waiting at most; one more is refused with RemError('overloaded'). Default MUTEX_WAITERS_MAX_DEFAULT. */
  waitersMax?: number;
  /** What the lock guards, for the error message. */
  name?: string;
}

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Callers of run() not yet finished: the holder and the waiters. */
  private inFlight = 0;
  readonly waitersMax: number;
  private readonly name: string;

  constructor(opts: MutexOptions = {}) {
    this.waitersMax = Math.max(0, Math.floor(opts.waitersMax ?? MUTEX_WAITERS_MAX_DEFAULT));
    this.name = opts.name ?? "the tenant's write lock";
  }

  /** Callers waiting for the lock (not counting the one holding it). */
  get waiters(): number {
    return Math.max(0, this.inFlight - 1);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    // a new caller waits behind every caller in flight but the holder
    if (this.inFlight > this.waitersMax) {
      throw new RemError('overloaded', `too many writers waiting for ${this.name} (${this.waiters}, at most ${this.waitersMax}); retry later`);
    }
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.inFlight++;
    try {
      await prev;
      return await fn();
    } finally {
      this.inFlight--;
      release();
    }
  }
}

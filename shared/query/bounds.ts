// Every query runs within bounds (rows scanned, traversal nodes, rows returned, wall time, from configuration) and
// keeps counters of the work it did; when it stops at a bound the result says so (`truncated` and which `bound`).

export interface QueryBounds {
  /** Records a query may examine (index entries and records read count towards it). */
  rowsScannedMax: number;
  /** Nodes a TRAVERSE may visit. */
  traversalNodesMax: number;
  /** Rows a query may return (and the largest LIMIT). */
  rowsReturnedMax: number;
  /** Wall time after which a scan stops. */
  timeMsMax: number;
  /**
   * Wall time one step of a query may take that cannot give the event loop a turn midway: a row's filter (a LIKE
   * over a huge text). The scan pauses between rows, but not inside one, and every tenant's requests on the node
   * wait while it runs; past this the query stops (bound `step_ms_max`) instead of at `timeMsMax`.
   */
  stepMsMax: number;
  /** Bytes of the answer (rows, results, edges, plan): rows stop being added once the next would not fit. */
  responseBytesMax: number;
}

export const DEFAULT_BOUNDS: QueryBounds = {
  rowsScannedMax: 200_000,
  traversalNodesMax: 10_000,
  rowsReturnedMax: 1000,
  timeMsMax: 5000,
  stepMsMax: 100,
  responseBytesMax: 16 * 1024 * 1024,
};

export type BoundName =
  | 'rows_scanned_max'
  | 'traversal_nodes_max'
  | 'traversal_edges_max'
  | 'rows_returned_max'
  | 'time_ms_max'
  | 'step_ms_max'
  | 'response_bytes_max'
  | 'limit';

/**
 * Work counter for long computations inside one query (row loops, sorting, LIKE matching on huge texts): `tick` counts
 * units of work (about one character compared; a row counts as ROW_UNITS) and looks at the clock every CHECK_UNITS
 * units, so a query stops within its time bound plus a few milliseconds whatever it is doing.
 */
export interface Clock {
  /** Counts `units` of work; false once the query is out of time (the caller stops and reports `time_ms_max`). */
  tick(units: number): boolean;
}

/** Units of work one row counts for (the clock is read about every CHECK_UNITS / ROW_UNITS rows). */
export const ROW_UNITS = 256;
const CHECK_UNITS = 4096;

export interface QueryStats {
  /** Secondary-index entries read. */
  index_entries_read: number;
  /** Records read from the store. */
  records_read: number;
  /** Records tested against the filter. */
  rows_scanned: number;
  /** Records that passed the filter. */
  rows_matched: number;
}

/** Counters and limits of one running query. */
export class Budget implements Clock {
  readonly stats: QueryStats = { index_entries_read: 0, records_read: 0, rows_scanned: 0, rows_matched: 0 };
  /** The bound that stopped the query, if any. */
  hit: BoundName | undefined;
  private readonly deadline: number;
  private work = 0;
  private late = false;

  constructor(readonly bounds: QueryBounds) {
    this.deadline = performance.now() + bounds.timeMsMax;
  }

  /** Records that the query stopped at `bound` (the first one wins). */
  stop(bound: BoundName): void {
    this.hit ??= bound;
  }

  /** Rows that may still be scanned before the bound (0 when it is reached). */
  get scanRoom(): number {
    return Math.max(0, this.bounds.rowsScannedMax - this.stats.rows_scanned);
  }

  /** Start of the step running now (see step()), undefined between steps. */
  private stepStartMs: number | undefined;

  /**
   * Runs one step that cannot pause (a row's filter): the clock's checks inside it also stop the query once the step
   * took longer than stepMsMax. Outside a step, the caller gives the event loop its turns (time slices).
   */
  step<T>(fn: () => T): T {
    this.stepStartMs = performance.now();
    try {
      return fn();
    } finally {
      this.stepStartMs = undefined;
    }
  }

  /** Checks the clock; false and records the bound when time is up (and from then on). */
  inTime(): boolean {
    if (this.late) return false;
    const now = performance.now();
    if (now <= this.deadline && (this.stepStartMs === undefined || now - this.stepStartMs <= this.bounds.stepMsMax)) return true;
    this.late = true;
    this.stop(now > this.deadline ? 'time_ms_max' : 'step_ms_max');
    return false;
  }

  /** True once the query ran out of time (a predicate that answered meanwhile answered nothing meaningful). */
  get outOfTime(): boolean {
    return this.late;
  }

  tick(units: number): boolean {
    if (this.late) return false;
    this.work += units;
    if (this.work < CHECK_UNITS) return true;
    this.work = 0;
    return this.inTime();
  }

  /**
   * A clock for finishing what a query that ran out of time gathered (sorting the rows it scanned): it allows `ms`
   * more from now, then stops too.
   */
  grace(ms: number): Clock {
    const until = performance.now() + ms;
    let work = 0;
    let over = false;
    return {
      tick(units: number): boolean {
        if (over) return false;
        work += units;
        if (work < CHECK_UNITS) return true;
        work = 0;
        over = performance.now() > until;
        return !over;
      },
    };
  }
}

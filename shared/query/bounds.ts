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
}

export const DEFAULT_BOUNDS: QueryBounds = {
  rowsScannedMax: 200_000,
  traversalNodesMax: 10_000,
  rowsReturnedMax: 1000,
  timeMsMax: 5000,
};

export type BoundName = 'rows_scanned_max' | 'traversal_nodes_max' | 'rows_returned_max' | 'time_ms_max' | 'limit';

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
export class Budget {
  readonly stats: QueryStats = { index_entries_read: 0, records_read: 0, rows_scanned: 0, rows_matched: 0 };
  /** The bound that stopped the query, if any. */
  hit: BoundName | undefined;
  private readonly deadline: number;

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

  /** Checks the clock (call once per batch); false and records the bound when time is up. */
  inTime(): boolean {
    if (performance.now() <= this.deadline) return true;
    this.stop('time_ms_max');
    return false;
  }
}

// Hybrid logical clock: timestamps that follow wall time, never go backwards (even when the wall clock steps back),
// and order every event of the system totally, with the node id breaking ties.
//
// Encoded as `<wall ms, 15 digits>.<counter, 6 digits>.<node id>` so string comparison is timestamp comparison.
//
// A remote timestamp moves the clock forward, so one far in the future (a bad op, a peer with a wrong clock) would
// drag every later timestamp of the node there: the node's later writes would then beat every honest write in LWW,
// and the format would overflow. The clock therefore refuses remote timestamps more than `maxDriftMs` ahead of its
// own wall clock (validateOp refuses such ops before they are applied), and never leaves its format.

export interface HlcParts {
  wallMs: number;
  counter: number;
  node: string;
}

const WALL_WIDTH = 15;
const COUNTER_WIDTH = 6;
const COUNTER_MAX = 999_999;
/** Largest wall time the format holds (15 digits: the year 33658). */
const WALL_MAX = 10 ** WALL_WIDTH - 1;
export const HLC_MAX_DRIFT_MS_DEFAULT = 60_000;

/** A remote timestamp too far ahead of this node's wall clock to be adopted. */
export class ClockDriftError extends Error {
  constructor(
    readonly remote: string,
    readonly aheadMs: number,
    readonly maxDriftMs: number,
  ) {
    super(`timestamp ${remote} is ${aheadMs} ms ahead of this node's clock (at most ${maxDriftMs} ms, PERCOLATE_HLC_MAX_DRIFT_MS)`);
    this.name = 'ClockDriftError';
  }
}

export function encodeHlc(p: HlcParts): string {
  // an invariant, not input validation: a timestamp outside the format would sort wrongly everywhere it is stored
  if (!Number.isSafeInteger(p.wallMs) || p.wallMs < 0 || p.wallMs > WALL_MAX || !Number.isInteger(p.counter) || p.counter < 0 || p.counter > COUNTER_MAX) {
    throw new Error(`HLC out of its format: wall ${p.wallMs} ms, counter ${p.counter}`);
  }
  return `${p.wallMs.toString().padStart(WALL_WIDTH, '0')}.${p.counter.toString().padStart(COUNTER_WIDTH, '0')}.${p.node}`;
}

const HLC_PATTERN = /^(\d{15})\.(\d{6})\.(.+)$/;

export function isHlc(s: unknown): s is string {
  return typeof s === 'string' && HLC_PATTERN.test(s);
}

export function decodeHlc(s: string): HlcParts {
  const m = HLC_PATTERN.exec(s);
  if (!m) throw new Error(`not an HLC timestamp: ${s}`);
  return { wallMs: Number(m[1]), counter: Number(m[2]), node: m[3]! };
}

export function hlcWallMs(s: string): number {
  return Number(s.slice(0, WALL_WIDTH));
}

export function hlcIso(s: string): string {
  return new Date(hlcWallMs(s)).toISOString();
}

/** max of two encoded timestamps (either may be undefined). */
export function hlcMax(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

export interface ClockOptions {
  /** The wall clock (tests move it). */
  nowMs?: () => number;
  /** Remote timestamps further ahead of the wall clock than this are refused. */
  maxDriftMs?: number;
}

export class HybridLogicalClock {
  private wallMs = 0;
  private counter = 0;
  /** The last timestamp now() issued: the next must sort after it (asserted; an equal one would be a lost write). */
  private lastIssued = '';
  private readonly nowMs: () => number;
  readonly maxDriftMs: number;

  constructor(
    readonly node: string,
    opts: ClockOptions | (() => number) = {},
  ) {
    if (node.length === 0 || node.includes('.')) throw new Error(`HLC node id must be non-empty and contain no '.': '${node}'`);
    const o = typeof opts === 'function' ? { nowMs: opts } : opts;
    this.nowMs = o.nowMs ?? Date.now;
    this.maxDriftMs = o.maxDriftMs ?? HLC_MAX_DRIFT_MS_DEFAULT;
  }

  /** A new timestamp for a local event, greater than every timestamp issued or observed before. */
  now(): string {
    const wall = this.nowMs();
    if (wall > this.wallMs) {
      this.wallMs = wall;
      this.counter = 0;
    } else {
      this.tick();
    }
    const ts = encodeHlc({ wallMs: this.wallMs, counter: this.counter, node: this.node });
    // an invariant, not input validation: two ops with one timestamp (or a step back) break LWW and op ids everywhere
    if (ts <= this.lastIssued) throw new Error(`HLC invariant broken: ${ts} is not after ${this.lastIssued}, the previous timestamp this clock issued`);
    this.lastIssued = ts;
    return ts;
  }

  /** How far `remote` is ahead of this node's wall clock, in ms (0 or negative when it is not). */
  aheadMs(remote: string): number {
    return hlcWallMs(remote) - this.nowMs();
  }

  /** Throws ClockDriftError when `remote` is further ahead of the wall clock than the drift bound. */
  checkRemote(remote: string): void {
    const ahead = this.aheadMs(remote);
    if (ahead > this.maxDriftMs) throw new ClockDriftError(remote, ahead, this.maxDriftMs);
  }

  /**
   * Moves the clock past a timestamp seen from elsewhere (a replicated op, a tenant's persisted high-water mark).
   * A timestamp beyond the drift bound is not adopted (ClockDriftError): callers refuse what carries it.
   */
  observe(remote: string): void {
    const r = decodeHlc(remote);
    this.checkRemote(remote);
    if (r.wallMs > this.wallMs) {
      this.wallMs = r.wallMs;
      this.counter = r.counter;
    } else if (r.wallMs === this.wallMs && r.counter > this.counter) {
      this.counter = r.counter;
    }
  }

  private tick(): void {
    if (this.counter < COUNTER_MAX) {
      this.counter++;
    } else {
      // a million events in one millisecond: borrow the next millisecond rather than overflow the counter
      this.wallMs++;
      this.counter = 0;
    }
  }
}

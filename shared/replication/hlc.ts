// Hybrid logical clock: timestamps that follow wall time, never go backwards (even when the wall clock steps back),
// and order every event of the system totally, with the node id breaking ties.
//
// Encoded as `<wall ms, 15 digits>.<counter, 6 digits>.<node id>` so string comparison is timestamp comparison.

export interface HlcParts {
  wallMs: number;
  counter: number;
  node: string;
}

const WALL_WIDTH = 15;
const COUNTER_WIDTH = 6;
const COUNTER_MAX = 999_999;

export function encodeHlc(p: HlcParts): string {
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

export class HybridLogicalClock {
  private wallMs = 0;
  private counter = 0;

  constructor(
    readonly node: string,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (node.length === 0 || node.includes('.')) throw new Error(`HLC node id must be non-empty and contain no '.': '${node}'`);
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
    return encodeHlc({ wallMs: this.wallMs, counter: this.counter, node: this.node });
  }

  /** Moves the clock past a timestamp seen from elsewhere (a replicated op, a tenant's persisted high-water mark). */
  observe(remote: string): void {
    const r = decodeHlc(remote);
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

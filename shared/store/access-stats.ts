// Per-tenant access counts over the last hour and the last day, for the retention score: twelve 5-minute buckets and
// twenty-four 1-hour buckets per tenant, rotated lazily when a tenant is touched or read. The table is bounded: beyond
// `tenantsMax` tenants the least recently accessed one is forgotten (its counts read as zero).

const MIN5_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
const MIN5_BUCKETS = 12;
const HOUR_BUCKETS = 24;

interface Counts {
  /** Bucket counts; index = (bucket number % length). */
  min5: Uint32Array;
  hour: Uint32Array;
  /** Bucket numbers the arrays were last rotated to. */
  min5At: number;
  hourAt: number;
  lastAccessMs: number;
}

export interface AccessCounts {
  access_count_1h: number;
  access_count_24h: number;
  /** Epoch ms of the last access, or undefined when none is remembered. */
  last_access_ms: number | undefined;
}

function rotate(buckets: Uint32Array, from: number, to: number): void {
  if (to <= from) return;
  if (to - from >= buckets.length) {
    buckets.fill(0);
    return;
  }
  for (let b = from + 1; b <= to; b++) buckets[b % buckets.length] = 0;
}

function sum(buckets: Uint32Array): number {
  let n = 0;
  for (const v of buckets) n += v;
  return n;
}

export class AccessStats {
  /** Least recently accessed first (an access moves its tenant to the end). */
  private readonly byTenant = new Map<string, Counts>();

  constructor(private readonly tenantsMax: number) {}

  get size(): number {
    return this.byTenant.size;
  }

  /** Counts one access at `nowMs`. */
  touch(tenant: string, nowMs: number): void {
    let c = this.byTenant.get(tenant);
    const m5 = Math.floor(nowMs / MIN5_MS);
    const h = Math.floor(nowMs / HOUR_MS);
    if (c) {
      this.byTenant.delete(tenant);
      this.advance(c, m5, h);
    } else {
      c = { min5: new Uint32Array(MIN5_BUCKETS), hour: new Uint32Array(HOUR_BUCKETS), min5At: m5, hourAt: h, lastAccessMs: nowMs };
    }
    c.min5[m5 % MIN5_BUCKETS]! += 1;
    c.hour[h % HOUR_BUCKETS]! += 1;
    c.lastAccessMs = Math.max(c.lastAccessMs, nowMs);
    this.byTenant.set(tenant, c);
    while (this.byTenant.size > Math.max(1, this.tenantsMax)) {
      const oldest = this.byTenant.keys().next().value as string;
      this.byTenant.delete(oldest);
    }
  }


  get(tenant: string, nowMs: number): AccessCounts {
    const c = this.byTenant.get(tenant);
    if (!c) return { access_count_1h: 0, access_count_24h: 0, last_access_ms: undefined };
    this.advance(c, Math.floor(nowMs / MIN5_MS), Math.floor(nowMs / HOUR_MS));
    return { access_count_1h: sum(c.min5), access_count_24h: sum(c.hour), last_access_ms: c.lastAccessMs };
  }

  forget(tenant: string): void {
    this.byTenant.delete(tenant);
  }

  private advance(c: Counts, m5: number, h: number): void {
    rotate(c.min5, c.min5At, m5);
    rotate(c.hour, c.hourAt, h);
    c.min5At = Math.max(c.min5At, m5);
    c.hourAt = Math.max(c.hourAt, h);
  }
}

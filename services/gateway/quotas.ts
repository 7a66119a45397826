// Per-tenant upload quotas of one gateway process, in memory: uploads in progress at once, and file bytes per UTC
// day. Both are checked before a byte of a new upload is stored; the daily bytes are also counted as the file
// arrives, so an upload that crosses the limit mid-stream is stopped there (and aborted like a too-large one). A
// refused or failed upload gives its bytes back: the day's count is what the tenant stored, plus what is arriving.
// The maps are bounded: in-flight entries leave with their last upload (at most the gateway's concurrent uploads),
// and the daily counts keep at most `tenantsMax` tenants (the least recently active one is forgotten beyond) and
// start again at 00:00 UTC.
import type { UploadQuotaConfig } from '../../shared/config/ingest-config.js';
import { RemError } from '../../shared/rem/errors.js';

export type UploadQuota = 'uploads_in_flight' | 'upload_bytes_per_day';

/** The refusal the database node gives for its own quotas, worded the same: 429 quota_exceeded with the details. */
export function quotaExceeded(quota: UploadQuota, limit: number, usage: number): RemError {
  const what = quota === 'uploads_in_flight' ? `${usage} uploads in progress` : `${usage} bytes uploaded today (UTC)`;
  return new RemError('quota_exceeded', `tenant quota ${quota} exceeded: ${what}, at most ${limit}`, { quota, limit, usage });
}

const DAY_MS = 86_400_000;

interface DayBytes {
  day: number;
  bytes: number;
}

/** One upload's hold on its tenant's quotas, from admission to its end. */
export interface UploadTicket {
  readonly tenant: string;
  /** Counts `n` more file bytes; returns the refusal when they take the tenant past its daily bytes. */
  addBytes(n: number): RemError | undefined;
  /** The upload ended: frees its in-flight slot; a failed upload's bytes are given back (the same UTC day only). */
  release(stored: boolean): void;
}

export class UploadQuotas {
  private readonly inFlight = new Map<string, number>();
  /** Least recently active first (a Map keeps insertion order; a touched tenant is moved to the end). */
  private readonly days = new Map<string, DayBytes>();
  private readonly nowMs: () => number;

  constructor(
    private readonly cfg: UploadQuotaConfig,
    opts: { nowMs?: () => number } = {},
  ) {
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Tenants whose daily bytes are remembered (at most `tenantsMax`). */
  get tenantsTracked(): number {
    return this.days.size;
  }

  /** Uploads in progress for `tenant`. */
  uploadsInFlight(tenant: string): number {
    return this.inFlight.get(tenant) ?? 0;
  }

  /** Bytes `tenant` uploaded today (UTC), including uploads in progress. */
  bytesToday(tenant: string): number {
    const d = this.days.get(tenant);
    return d && d.day === this.today() ? d.bytes : 0;
  }

  /** Admits a new upload of `tenant`, or throws the refusal (before anything of it is read or stored). */
  admit(tenant: string): UploadTicket {
    const inFlight = this.uploadsInFlight(tenant);
    if (inFlight >= this.cfg.uploadsInFlightMax) throw quotaExceeded('uploads_in_flight', this.cfg.uploadsInFlightMax, inFlight);
    const used = this.bytesToday(tenant);
    if (used >= this.cfg.uploadBytesPerDay) throw quotaExceeded('upload_bytes_per_day', this.cfg.uploadBytesPerDay, used);
    this.inFlight.set(tenant, inFlight + 1);
    let counted = 0;
    let day = this.today();
    let released = false;
    return {
      tenant,
      addBytes: (n) => {
        const entry = this.touch(tenant);
        if (entry.day !== day) {
          // the upload runs past midnight: its bytes from now on count for the new day
          day = entry.day;
          counted = 0;
        }
        entry.bytes += n;
        counted += n;
        return entry.bytes > this.cfg.uploadBytesPerDay ? quotaExceeded('upload_bytes_per_day', this.cfg.uploadBytesPerDay, entry.bytes) : undefined;
      },
      release: (stored) => {
        if (released) return;
        released = true;
        const left = (this.inFlight.get(tenant) ?? 1) - 1;
        if (left > 0) this.inFlight.set(tenant, left);
        else this.inFlight.delete(tenant);
        if (!stored && counted > 0) {
          const d = this.days.get(tenant);
          if (d && d.day === day) d.bytes = Math.max(0, d.bytes - counted);
        }
      },
    };
  }

  private today(): number {
    return Math.floor(this.nowMs() / DAY_MS);
  }

  /** The tenant's entry for today, moved to the most recently active end; the least recent are forgotten beyond the bound. */
  private touch(tenant: string): DayBytes {
    const today = this.today();
    let d = this.days.get(tenant);
    this.days.delete(tenant);
    if (!d || d.day !== today) d = { day: today, bytes: 0 };
    this.days.set(tenant, d);
    while (this.days.size > this.cfg.tenantsMax) this.days.delete(this.days.keys().next().value!);
    return d;
  }
}

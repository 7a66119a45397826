// Writes to the database node's HTTP API with the tenant header. Connection errors, timeouts, 429 and 5xx are
// retried a bounded number of times with backoff; any other 4xx means the request itself is wrong and is permanent.
import { setTimeout as sleep } from 'node:timers/promises';

export class PermanentJobError extends Error {}

export interface DatabaseClientOptions {
  timeoutMs: number;
  attempts: number;
  /** First retry delay; doubles per attempt. */
  backoffMs?: number;
}

const RETRIABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export class DatabaseClient {
  constructor(
    readonly baseUrl: string,
    private readonly opts: DatabaseClientOptions,
  ) {}

  /** POST `body` as JSON to `path` for `tenant`; returns the parsed answer. */
  async post<T>(tenant: string, path: string, body: unknown): Promise<T> {
    const payload = JSON.stringify(body);
    const backoff = this.opts.backoffMs ?? 200;
    let last = '';
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      if (attempt > 1) await sleep(backoff * 2 ** (attempt - 2));
      let res: Response;
      try {
        res = await fetch(this.baseUrl + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
          body: payload,
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
      } catch (err) {
        last = `${path}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`;
        continue;
      }
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      last = `${path} answered ${res.status}: ${text.slice(0, 300)}`;
      if (!RETRIABLE_STATUS.has(res.status)) throw new PermanentJobError(`database rejected the write: ${last}`);
    }
    throw new Error(`database write failed after ${this.opts.attempts} attempts: ${last}`);
  }
}

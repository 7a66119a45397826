// Writes to the database node's HTTP API with the tenant header. Connection errors, timeouts, 429 and 5xx are
// retried a bounded number of times with backoff; any other 4xx means the request itself is wrong and is permanent.
import { RetryExhaustedError, retry } from '../../shared/rem/retry.js';

export class PermanentJobError extends Error {}

export interface DatabaseClientOptions {
  timeoutMs: number;
  attempts: number;
  /** First retry delay; doubles per attempt. */
  backoffMs?: number;
}

const RETRIABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** A failure worth another attempt: no answer (connection error, timeout), 408, 429 or a 5xx. */
class TransientWriteError extends Error {}

export class DatabaseClient {
  constructor(
    readonly baseUrl: string,
    private readonly opts: DatabaseClientOptions,
  ) {}

  /** POST `body` as JSON to `path` for `tenant`; returns the parsed answer. */
  async post<T>(tenant: string, path: string, body: unknown): Promise<T> {
    const payload = JSON.stringify(body);
    const attempt = async (): Promise<T> => {
      let res: Response;
      try {
        res = await fetch(this.baseUrl + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
          body: payload,
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
      } catch (err) {
        throw new TransientWriteError(`${path}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`);
      }
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      const last = `${path} answered ${res.status}: ${text.slice(0, 300)}`;
      if (!RETRIABLE_STATUS.has(res.status)) throw new PermanentJobError(`database rejected the write: ${last}`);
      throw new TransientWriteError(last);
    };
    try {
      // the first retry waits `backoffMs`, each next one twice as long (no cap: attempts are few)
      return await retry(attempt, { attempts: this.opts.attempts, initialMs: this.opts.backoffMs ?? 200, factor: 2, retryable: (e) => e instanceof TransientWriteError });
    } catch (err) {
      if (err instanceof RetryExhaustedError) throw new Error(`database write failed after ${this.opts.attempts} attempts: ${(err.cause as Error).message}`);
      throw err;
    }
  }
}

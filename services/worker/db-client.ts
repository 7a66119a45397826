// Writes to the database node's HTTP API with the tenant header and the worker's own token (Authorization: Bearer).
// Connection errors, timeouts, 429 and 5xx are retried a bounded number of times with backoff; any other 4xx means
// the request itself is wrong and is permanent, a 401 or 403 (the node refused the worker's token) included.
import { RetryExhaustedError, retry } from '../../shared/rem/retry.js';

export class PermanentJobError extends Error {}

export interface DatabaseClientOptions {
  timeoutMs: number;
  attempts: number;
  /** First retry delay; doubles per attempt. */
  backoffMs?: number;
  /** The worker's credentials (services/worker/credentials.ts); none: no Authorization header. */
  credentials?: { token(): Promise<string | undefined>; refused(): void };
}

/** The database refused the worker's token (401) or what it grants (403): permanent, whatever the job. */
export class CredentialsRefusedError extends PermanentJobError {}

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
      const token = await this.opts.credentials?.token();
      let res: Response;
      try {
        res = await fetch(this.baseUrl + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant-id': tenant, ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: payload,
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
      } catch (err) {
        throw new TransientWriteError(`${path}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`);
      }
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      const last = `${path} answered ${res.status}: ${text.slice(0, 300)}`;
      if (res.status === 401 || res.status === 403) {
        this.opts.credentials?.refused();
        // the node's answer names the check that failed and never echoes the token
        let code = '';
        try {
          code = String((JSON.parse(text) as { error?: { code?: unknown } }).error?.code ?? '');
        } catch {
          /* not the error envelope */
        }
        throw new CredentialsRefusedError(
          `the database refused the worker's credentials (${res.status}${code ? ` ${code}` : ''}): set PERCOLATE_API_TOKEN to a valid rw token for every tenant (*), ` +
            `or give the worker the installation's keys (PERCOLATE_AUTH_KEYS_FILE, PERCOLATE_DATA_DIR, PERCOLATE_AUTH_AUDIENCE); ${last}`,
        );
      }
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

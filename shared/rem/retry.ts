// Retrying an operation that may fail for a while (a server starting, a connection coming back, a peer answering
// 503): exponential backoff with a cap, a bounded number of attempts and/or a deadline, an abort signal, a predicate
// for the errors worth retrying, and explicit delays (a `Retry-After`) when the error carries one. The one retry loop
// of the code base; callers that schedule their own timers (the outbox publisher) use `backoffDelay` alone.

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Longest delay, in ms (default: no cap). */
  maxMs?: number;
  /** Growth of the delay per retry (default 2; 1 polls at a constant interval). */
  factor?: number;
}

/** The delay before retry number `retry` (1 is the first retry): `initialMs * factor^(retry - 1)`, at most `maxMs`. */
export function backoffDelay(retry: number, o: BackoffOptions): number {
  const factor = o.factor ?? 2;
  const delay = o.initialMs * factor ** Math.max(0, retry - 1);
  return Math.max(0, Math.min(o.maxMs ?? Infinity, delay));
}

export interface RetryInfo {
  /** The error of the attempt that just failed. */
  error: unknown;
  /** The attempt that failed (1 is the first call). */
  attempt: number;
  /** How long the next attempt waits. */
  delayMs: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Calls of the operation at most, the first included (default: unbounded). */
  attempts?: number;
  /**
   * Time budget in ms, counted from the first call: a wait is shortened to end at the deadline, and no attempt starts
   * after it (default: none). One of `attempts`, `deadlineMs` or `signal` should bound the loop.
   */
  deadlineMs?: number;
  /** Aborting stops the loop at once, during a wait too; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Whether an error is worth another attempt (default: every error). Others are rethrown as they are. */
  retryable?: (error: unknown, attempt: number) => boolean;
  /** An explicit delay for this error (e.g. from a `Retry-After` header), used instead of the backoff; undefined: backoff. */
  delayOf?: (error: unknown, attempt: number) => number | undefined;
  /** Called before each wait (logging, metrics). */
  onRetry?: (info: RetryInfo) => void;
  /** The clock and the wait, replaceable for tests. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The attempts or the deadline ran out; `cause` is the last attempt's error. */
export class RetryExhaustedError extends Error {
  constructor(
    readonly attempts: number,
    readonly reason: 'attempts' | 'deadline',
    readonly elapsedMs: number,
    cause: unknown,
  ) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} (${reason}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RetryExhaustedError';
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/** A timer that an abort signal cuts short (rejecting with the signal's reason). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `fn` until it resolves. After a failure that `retryable` accepts, waits `delayOf(error)` or the backoff
 * (`initialMs`, growing by `factor`, capped at `maxMs`) and tries again, until `attempts` calls were made or the
 * deadline passed (then rejects with a RetryExhaustedError whose cause is the last error). An error that is not
 * retryable, or any error once the signal is aborted, is rethrown unchanged.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? abortableSleep;
  const attemptsMax = o.attempts ?? Infinity;
  if (!(attemptsMax >= 1)) throw new RangeError(`retry: attempts must be at least 1, got ${attemptsMax}`);
  const started = now();
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw abortReason(o.signal);
    try {
      return await fn(attempt);
    } catch (error) {
      if (o.signal?.aborted) throw error;
      if (o.retryable && !o.retryable(error, attempt)) throw error;
      if (attempt >= attemptsMax) throw new RetryExhaustedError(attempt, 'attempts', now() - started, error);
      let delayMs = o.delayOf?.(error, attempt) ?? backoffDelay(attempt, o);
      if (!Number.isFinite(delayMs) || delayMs < 0) delayMs = backoffDelay(attempt, o);
      if (o.deadlineMs !== undefined) {
        const left = started + o.deadlineMs - now();
        if (left <= 0) throw new RetryExhaustedError(attempt, 'deadline', now() - started, error);
        delayMs = Math.min(delayMs, left);
      }
      o.onRetry?.({ error, attempt, delayMs });
      await sleep(delayMs, o.signal);
    }
  }
}

/**
 * A `Retry-After` header value as a delay in ms: delay-seconds or an HTTP date (relative to `nowMs`); undefined when
 * absent or unreadable.
 */
export function retryAfterMs(header: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = /^[A-Za-z]{3}, /.test(s) ? Date.parse(s) : NaN; // an IMF-fixdate starts with the day's name
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

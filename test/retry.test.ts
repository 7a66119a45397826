// The one retry helper (shared/rem/retry.ts): backoff schedule, attempt and deadline bounds, abort, the retryable
// predicate and explicit delays. A fake clock and sleep make the schedule exact; one test uses real timers for abort.
import { describe, expect, it } from 'vitest';
import { RetryExhaustedError, abortableSleep, backoffDelay, retry, retryAfterMs, type RetryOptions } from '../shared/rem/retry.js';

/** A clock that only moves when the retry loop sleeps, and the waits it was asked for. */
function fakeTime() {
  let t = 1_000_000;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    advance: (ms: number) => (t += ms),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw signal.reason;
      waits.push(ms);
      t += ms;
    },
  };
}

/** An operation that fails `failures` times (with `error(i)`) and then answers `value`. */
function flaky<T>(failures: number, value: T, error: (i: number) => unknown = (i) => new Error(`failure ${i}`)) {
  const calls: number[] = [];
  return {
    calls,
    fn: async (attempt: number) => {
      calls.push(attempt);
      if (calls.length <= failures) throw error(calls.length);
      return value;
    },
  };
}

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    const o = { initialMs: 100, maxMs: 5_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffDelay(n, o))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('grows without bound when there is no cap, and stays constant with factor 1', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, { initialMs: 200 }))).toEqual([200, 400, 800, 1600]);
    expect([1, 2, 50].map((n) => backoffDelay(n, { initialMs: 50, factor: 1 }))).toEqual([50, 50, 50]);
    expect(backoffDelay(2000, { initialMs: 1, maxMs: 10 })).toBe(10); // 2^1999 is Infinity: still the cap
  });
});

describe('retry', () => {
  it('returns the first success and waits the backoff between failures', async () => {
    const time = fakeTime();
    const op = flaky(3, 'ok');
    const seen: number[] = [];
    const got = await retry(op.fn, { initialMs: 200, maxMs: 5_000, ...time, onRetry: (i) => seen.push(i.attempt) });
    expect(got).toBe('ok');
    expect(op.calls).toEqual([1, 2, 3, 4]);
    expect(time.waits).toEqual([200, 400, 800]);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('does not wait before the first attempt nor after a success', async () => {
    const time = fakeTime();
    await expect(retry(async () => 42, { initialMs: 100, ...time })).resolves.toBe(42);
    expect(time.waits).toEqual([]);
  });

  it('caps the delay', async () => {
    const time = fakeTime();
    await retry(flaky(9, 'ok').fn, { initialMs: 200, maxMs: 5_000, ...time });
    expect(time.waits).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  });

  it('stops after `attempts` calls with the last error as the cause', async () => {
    const time = fakeTime();
    const op = flaky(10, 'never');
    const err = await retry(op.fn, { initialMs: 200, attempts: 4, ...time }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryExhaustedError);
    expect(err).toMatchObject({ attempts: 4, reason: 'attempts' });
    expect(((err as RetryExhaustedError).cause as Error).message).toBe('failure 4');
    expect(op.calls).toEqual([1, 2, 3, 4]);
    expect(time.waits).toEqual([200, 400, 800]);
  });

  it('makes exactly one call with attempts: 1', async () => {
    const op = flaky(1, 'never');
    await expect(retry(op.fn, { initialMs: 10, attempts: 1, ...fakeTime() })).rejects.toMatchObject({ attempts: 1, reason: 'attempts' });
    expect(op.calls).toEqual([1]);
  });

  it('refuses a bound of zero attempts', async () => {
    await expect(retry(async () => 1, { initialMs: 10, attempts: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it('rethrows an error the predicate does not accept, unchanged and at once', async () => {
    class Permanent extends Error {}
    const time = fakeTime();
    const permanent = new Permanent('bad request');
    const op = flaky(5, 'never', (i) => (i < 3 ? new Error('transient') : permanent));
    const err = await retry(op.fn, { initialMs: 100, attempts: 10, retryable: (e) => !(e instanceof Permanent), ...time }).catch((e: unknown) => e);
    expect(err).toBe(permanent);
    expect(op.calls).toEqual([1, 2, 3]);
    expect(time.waits).toEqual([100, 200]);
  });

  it('gives up at the deadline, shortening the last wait to end there', async () => {
    const time = fakeTime();
    const op = flaky(Infinity, 'never');
    const err = await retry(op.fn, { initialMs: 400, factor: 1, deadlineMs: 1_000, ...time }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'deadline', attempts: 4 });
    expect(time.waits).toEqual([400, 400, 200]); // the attempt at the deadline is the last
  });

  it('counts the time the attempts themselves take against the deadline', async () => {
    const time = fakeTime();
    const calls: number[] = [];
    const slow = async (attempt: number) => {
      calls.push(attempt);
      time.advance(600);
      throw new Error('slow failure');
    };
    await expect(retry(slow, { initialMs: 100, factor: 1, deadlineMs: 1_000, ...time })).rejects.toMatchObject({ reason: 'deadline' });
    expect(calls).toEqual([1, 2]);
    expect(time.waits).toEqual([100]);
  });

  it('uses an explicit delay (Retry-After) instead of the backoff when the error carries one', async () => {
    const time = fakeTime();
    const op = flaky(3, 'ok', (i) => Object.assign(new Error('busy'), { retryAfterMs: i === 2 ? 3_000 : undefined }));
    await retry(op.fn, { initialMs: 100, ...time, delayOf: (e) => (e as { retryAfterMs?: number }).retryAfterMs });
    expect(time.waits).toEqual([100, 3_000, 400]);
  });

  it('keeps an explicit delay within the deadline', async () => {
    const time = fakeTime();
    const op = flaky(1, 'ok');
    await retry(op.fn, { initialMs: 100, deadlineMs: 500, ...time, delayOf: () => 60_000 });
    expect(time.waits).toEqual([500]);
  });

  it('does not call the operation when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stopped before'));
    const op = flaky(0, 'ok');
    await expect(retry(op.fn, { initialMs: 10, signal: ac.signal })).rejects.toThrow('stopped before');
    expect(op.calls).toEqual([]);
  });

  it('rejects with the abort reason as soon as the signal aborts during a wait', async () => {
    const ac = new AbortController();
    const op = flaky(Infinity, 'never');
    const started = performance.now();
    const running = retry(op.fn, { initialMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('replicator stopped')), 20);
    await expect(running).rejects.toThrow('replicator stopped');
    expect(performance.now() - started).toBeLessThan(5_000); // not the 60 s wait
    expect(op.calls).toEqual([1]);
  });

  it('rethrows the attempt error itself when the signal aborted while the attempt ran', async () => {
    const ac = new AbortController();
    const failure = new Error('connection refused');
    const fn = async () => {
      ac.abort(new Error('stopped'));
      throw failure;
    };
    await expect(retry(fn, { initialMs: 10, signal: ac.signal })).rejects.toBe(failure);
  });

  it('passes the attempt number to the operation', async () => {
    const op = flaky(2, 'ok');
    const options: RetryOptions = { initialMs: 1, ...fakeTime() };
    await retry(op.fn, options);
    expect(op.calls).toEqual([1, 2, 3]);
  });
});

describe('abortableSleep', () => {
  it('resolves after the delay, and rejects at once on an aborted signal', async () => {
    await expect(abortableSleep(5)).resolves.toBeUndefined();
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(abortableSleep(60_000, ac.signal)).rejects.toThrow('gone');
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0); // in the past: retry now
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
  });
});

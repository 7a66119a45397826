// Every wait in the tests is a condition with a deadline: poll until it holds (a bound on waiting, not a timing
// assertion), on top of the shared retry helper at a constant interval.
import { RetryExhaustedError, retry } from '../../shared/rem/retry.js';

const NOT_YET = new Error('condition not met yet');

/**
 * Calls `fn` every `everyMs` until it returns something other than undefined or false (which it then returns), or
 * `timeoutMs` passed. An error thrown by `fn` counts as "not yet" and its message ends the timeout error, so a poll can
 * report the last state it saw by throwing it.
 */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  let last: unknown;
  try {
    return await retry(
      async () => {
        let v: T | undefined | false;
        try {
          v = await fn();
        } catch (err) {
          last = err;
          throw err;
        }
        if (v === undefined || v === false) throw NOT_YET;
        return v;
      },
      { initialMs: everyMs, factor: 1, deadlineMs: timeoutMs },
    );
  } catch (err) {
    if (!(err instanceof RetryExhaustedError)) throw err;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
  }
}

/**
 * A fixed pause. Only for a test whose subject is time itself (an outage of a given length); a wait for something to
 * happen is `waitFor`.
 */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts event-loop turns (one setImmediate after another) until stop() is called. */
export function countTurns(): { stop(): number } {
  let turns = 0;
  let on = true;
  const tick = () => {
    turns++;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop() {
      on = false;
      return turns;
    },
  };
}

// waitFor (test/support/wait.ts): a condition polled until it holds or its deadline passes.
import { describe, expect, it } from 'vitest';
import { waitFor } from './support/wait.js';

describe('waitFor', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let n = 0;
    await expect(waitFor('n to reach 3', async () => (++n >= 3 ? n : undefined), 5_000, 1)).resolves.toBe(3);
    let m = 0;
    await expect(waitFor('a zero', async () => (++m >= 2 ? 0 : false), 5_000, 1)).resolves.toBe(0); // 0 is a value
  });

  it('fails at its deadline, naming what it waited for and the last error seen', async () => {
    const started = performance.now();
    const err = await waitFor('the impossible', async () => {
      throw new Error('last state: stuck');
    }, 100, 10).catch((e: unknown) => e as Error);
    expect(err.message).toBe('timed out after 100 ms waiting for the impossible: Error: last state: stuck');
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('keeps an earlier error for the message when later polls only say "not yet"', async () => {
    let n = 0;
    const err = (await waitFor('x', async () => {
      if (++n === 1) throw new Error('first poll failed');
      return false;
    }, 50, 5).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('timed out after 50 ms waiting for x: Error: first poll failed');
  });
});

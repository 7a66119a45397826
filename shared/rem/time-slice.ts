// Cooperative time slicing for long loops on the event loop (a big batch's embedding, index preparation and batch
// encoding, a page of big records): the loop asks `due()` as it goes (synchronous and cheap: no promise per step)
// and, when the current slice is used up, awaits `pause()`, which gives the event loop a turn. So one tenant's large
// request delays the others' by about a slice at a time.

/** Work between two yields at most, by default. */
export const SLICE_MS_DEFAULT = 3;

export class TimeSlice {
  private start = performance.now();
  private calls = 0;

  /** `checkEvery`: calls between two clock reads (reading the clock costs more than a loop step). */
  constructor(
    private readonly sliceMs = SLICE_MS_DEFAULT,
    private readonly checkEvery = 1,
  ) {}

  /** True when the current slice is used up (then await `pause()`). */
  due(): boolean {
    if (++this.calls < this.checkEvery) return false;
    this.calls = 0;
    return performance.now() - this.start >= this.sliceMs;
  }

  /** Gives the event loop a turn (a macrotask, so I/O and timers run) and starts a new slice. */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.start = performance.now();
  }

  /** `due()` and `pause()` together, for loops whose steps are costly anyway (one promise per call). */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.pause();
  }
}

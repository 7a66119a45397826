// Cooperative time slicing for long loops on the event loop (a big batch's embedding, index preparation and batch
// encoding): the loop calls `maybeYield()` as it goes, and gives the event loop a turn once it has run for a slice,
// so one tenant's large request delays the others' by at most about a slice at a time.

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

  /** Yields to the event loop (a macrotask, so I/O and timers run) when the current slice is used up. */
  async maybeYield(): Promise<void> {
    if (++this.calls < this.checkEvery) return;
    this.calls = 0;
    if (performance.now() - this.start < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.start = performance.now();
  }
}

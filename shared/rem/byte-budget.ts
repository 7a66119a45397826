// A bound on the size of one answer: read routes, queries and traversals add records until the next one would not
// fit, then stop and say so (`truncated`, bound `response_bytes_max`), so no request can build an answer that
// exhausts memory or exceeds what a string can hold.

export const RESPONSE_BYTES_BOUND = 'response_bytes_max';

export class ByteBudget {
  private usedBytes = 0;
  /** Set once something did not fit. */
  exceeded = false;

  constructor(readonly bytesMax: number) {}

  get used(): number {
    return this.usedBytes;
  }

  /** Reserves `bytes` for one more item; false (and `exceeded`) when it does not fit, and nothing is reserved. */
  take(bytes: number): boolean {
    if (this.exceeded || this.usedBytes + bytes > this.bytesMax) {
      this.exceeded = true;
      return false;
    }
    this.usedBytes += bytes;
    return true;
  }

  /** Reserves the serialized size of `value` (for values not already held as JSON text). */
  takeJson(value: unknown): boolean {
    return this.take(jsonBytes(value));
  }
}

/** UTF-8 bytes of a JSON text (what it costs in the answer). */
export function textBytes(json: string): number {
  return Buffer.byteLength(json, 'utf8');
}

/**
 * Bytes of a graph edge `{from, rel, to, weight, properties}` as JSON, without serialising it (a traversal measures
 * thousands): ids are 32 hex characters, a weight at most 24; only non-empty properties are serialised.
 */
export function edgeBytes(e: { rel: string; properties?: Record<string, unknown> }): number {
  let props = 2;
  if (e.properties) for (const _ in e.properties) {
    props = jsonBytes(e.properties);
    break;
  }
  return 2 * 32 + textBytes(e.rel) + 24 + props + 48;
}

export function jsonBytes(value: unknown): number {
  return textBytes(JSON.stringify(value) ?? 'null');
}

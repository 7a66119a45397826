// Serialises large answers without stalling the event loop: JSON.stringify of a 16 MB answer (a page of big
// records, a wide traversal) blocks for tens of milliseconds, during which no other tenant's request runs. Answers
// with arrays are serialised element by element instead, yielding between time slices, and sent as the text built.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { TimeSlice } from '../rem/time-slice.js';

/** Arrays shorter than this are serialised in one go (small answers, the hot path, stay as they were). */
const SLICED_ITEMS_MIN = 8;

function isPlainAnswer(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (Array.isArray(x) && x.length >= SLICED_ITEMS_MIN) return true;
  }
  return false;
}

/**
 * The JSON text of `v` (a plain object) as a list of pieces, its arrays serialised an element at a time between
 * event-loop turns. Joined, the pieces are exactly JSON.stringify(v).
 */
export async function slicedStringify(v: Record<string, unknown>): Promise<string[]> {
  const slice = new TimeSlice(2);
  const parts: string[] = ['{'];
  let first = true;
  for (const k of Object.keys(v)) {
    const x = v[k];
    const head = `${first ? '' : ','}${JSON.stringify(k)}:`;
    if (Array.isArray(x)) {
      first = false;
      parts.push(head + '[');
      for (let i = 0; i < x.length; i++) {
        if (slice.due()) await slice.pause();
        parts.push((i > 0 ? ',' : '') + (JSON.stringify(x[i]) ?? 'null'));
      }
      parts.push(']');
      continue;
    }
    const text = JSON.stringify(x);
    if (text === undefined) continue;
    first = false;
    parts.push(head + text);
  }
  parts.push('}');
  return parts;
}

/** Answers above this are streamed piece by piece: turning one 16 MB string into bytes at once blocks too. */
const STREAMED_CHARS_MIN = 1024 * 1024;
/** Characters per streamed chunk: few enough writes, small enough conversions. */
const CHUNK_CHARS = 64 * 1024;

/** Answers that hold an array of some length are serialised in slices, whether or not their route has a response schema. */
export function installSlicedSerialization(app: FastifyInstance): void {
  app.addHook('preSerialization', async (_req, reply, payload) => {
    // before a route's response schema: fast-json-stringify builds the whole text in one go, which is what this avoids
    if (reply.statusCode >= 300 || !isPlainAnswer(payload)) return payload;
    const parts = await slicedStringify(payload);
    let chars = 0;
    for (const p of parts) chars += p.length;
    reply.serializer((p: unknown) => p as string);
    if (chars < STREAMED_CHARS_MIN) return parts.join('');
    // a generator: pieces are joined into chunks of about CHUNK_CHARS and become bytes only when the socket asks
    return Readable.from(
      (function* () {
        let pending: string[] = [];
        let size = 0;
        for (const p of parts) {
          pending.push(p);
          size += p.length;
          if (size >= CHUNK_CHARS) {
            yield Buffer.from(pending.join(''), 'utf8');
            pending = [];
            size = 0;
          }
        }
        if (pending.length > 0) yield Buffer.from(pending.join(''), 'utf8');
      })(),
    );
  });
}

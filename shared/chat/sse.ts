// Server-Sent Events: parsing a byte stream into events (client side, for streaming providers) and formatting
// events (server side). Follows the WHATWG event-stream rules: `field: value` lines, `data` lines joined with "\n",
// a blank line dispatches, lines starting with ':' are comments, CR, LF and CRLF all end lines.
//
// Bounded: an event (its data lines and the line still being received) longer than `eventCharsMax` fails the stream
// with RemError('provider_error') rather than growing the buffer for a peer that never ends a line or an event.
import { RemError } from '../rem/errors.js';

/** Characters one event may hold at most, with the line not yet ended (1 MiB; a chat chunk is a few hundred). */
export const SSE_EVENT_CHARS_MAX_DEFAULT = 1024 * 1024;

export interface SseParseOptions {
  /** Characters of one event at most (data lines, event name and the pending line). Default SSE_EVENT_CHARS_MAX_DEFAULT. */
  eventCharsMax?: number;
}

export interface SseEvent {
  event: string;
  data: string;
}

/** Events of an SSE byte stream, in order. */
export async function* parseSse(body: AsyncIterable<Uint8Array>, opts: SseParseOptions = {}): AsyncGenerator<SseEvent> {
  const max = opts.eventCharsMax ?? SSE_EVENT_CHARS_MAX_DEFAULT;
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data: string[] = [];
  /** Characters held for the event being received (data values and a newline each, the event name). */
  let held = 0;
  const check = (pending: number) => {
    if (held + pending > max) throw new RemError('provider_error', `server-sent event larger than ${max} characters: stream refused`);
  };
  const line = function* (l: string): Generator<SseEvent> {
    if (l === '') {
      if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      held = 0;
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      data.push(value);
      held += value.length + 1;
    } else if (field === 'event') {
      held += value.length - event.length;
      event = value;
    }
    check(0); // an event is refused even when it arrives within one chunk
  };
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      // a lone CR at the end of the buffer may be the first half of a CRLF: wait for more
      if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
      const l = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      yield* line(l);
    }
    check(buf.length); // the line not yet ended
  }
  buf += decoder.decode();
  if (buf.length > 0) yield* line(buf.replace(/\r$/, ''));
  yield* line('');
}

/** One event as SSE text (`event:` omitted for the default "message" type). */
export function formatSse(data: string, event?: string): string {
  const lines = data.split(/\r\n|\r|\n/).map((l) => `data: ${l}`);
  return (event ? `event: ${event}\n` : '') + lines.join('\n') + '\n\n';
}

// Server-Sent Events: parsing a byte stream into events (client side, for streaming providers) and formatting
// events (server side). Follows the WHATWG event-stream rules: `field: value` lines, `data` lines joined with "\n",
// a blank line dispatches, lines starting with ':' are comments, CR, LF and CRLF all end lines.

export interface SseEvent {
  event: string;
  data: string;
}

/** Events of an SSE byte stream, in order. */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data: string[] = [];
  const line = function* (l: string): Generator<SseEvent> {
    if (l === '') {
      if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
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

// POSTs JSON to a streaming endpoint and collects its Server-Sent Events.
import { parseSse, type SseEvent } from '../../shared/chat/sse.js';

export async function postEvents(url: string, tenant: string, body: unknown): Promise<{ status: number; contentType: string | null; events: SseEvent[] }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': tenant }, body: JSON.stringify(body) });
  const events: SseEvent[] = [];
  for await (const e of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) events.push(e);
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

// A language model double speaking OpenAI's chat-completions wire format (the third-party service that cannot run
// here): whole answers and `chat.completion.chunk` streams, tool calls (whole and as streamed fragments), JSON
// answers for response_format, and the errors a real one sends (400 with an error object, 429 with Retry-After, a
// slow answer). Every request body is kept for the test to assert what the node passed on.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ModelRequest {
  model: string;
  messages: { role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string; name?: string }[];
  stream?: boolean;
  tools?: { type: string; function: { name: string; parameters?: unknown } }[];
  tool_choice?: unknown;
  response_format?: { type: string; json_schema?: { name?: string; schema?: unknown } };
  [field: string]: unknown;
}

/** What the model answers to one request. */
export type ModelAnswer =
  | { text: string }
  | { toolCall: { name: string; arguments: string } }
  | { error: { status: number; message: string; headers?: Record<string, string> } }
  | { stall: true }
  /** Streams this text, then an error event instead of the end (a model failing mid-answer). */
  | { brokenStream: string };

export class FakeModel {
  readonly seen: ModelRequest[] = [];
  /** Chooses the answer; the default calls the first tool when tools are offered and the last turn is not a tool result. */
  answer: (req: ModelRequest) => ModelAnswer = (req) => defaultAnswer(req);
  private server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => this.respond(JSON.parse(raw) as ModelRequest, res));
  });

  private respond(body: ModelRequest, res: http.ServerResponse): void {
    this.seen.push(body);
    const a = this.answer(body);
    if ('stall' in a) return; // never answers: the node's timeout must end it
    if ('error' in a) {
      res.writeHead(a.error.status, { 'content-type': 'application/json', ...(a.error.headers ?? {}) });
      res.end(JSON.stringify({ error: { message: a.error.message, type: 'invalid_request_error', code: null } }));
      return;
    }
    const base = { id: 'chatcmpl-fake', created: 1, model: body.model };
    if ('brokenStream' in a) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const first = { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: a.brokenStream }, finish_reason: null }] };
      res.end(`data: ${JSON.stringify(first)}\n\ndata: ${JSON.stringify({ error: { message: 'the model crashed' } })}\n\n`);
      return;
    }
    const message =
      'text' in a
        ? { role: 'assistant', content: a.text }
        : { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: a.toolCall.name, arguments: a.toolCall.arguments } }] };
    const finish = 'text' in a ? 'stop' : 'tool_calls';
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish }], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: unknown, finishReason: string | null) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finishReason }] });
    const events: unknown[] = [chunk({ role: 'assistant', content: '' }, null)];
    if ('text' in a) {
      for (const piece of a.text.match(/[\s\S]{1,6}/g) ?? []) events.push(chunk({ content: piece }, null));
    } else {
      // a tool call arrives in fragments: the id and name first, then the arguments in pieces
      events.push(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: a.toolCall.name, arguments: '' } }] }, null));
      for (const piece of a.toolCall.arguments.match(/[\s\S]{1,5}/g) ?? []) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
    }
    events.push(chunk({}, finish));
    res.end(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }
}

/** A JSON value that satisfies a (simple) JSON schema: the first enum value, strings, numbers, nested objects. */
export function sampleFor(schema: unknown): unknown {
  const s = (schema ?? {}) as { type?: string | string[]; properties?: Record<string, unknown>; items?: unknown; enum?: unknown[]; anyOf?: unknown[] };
  if (s.enum) return s.enum[0];
  if (s.anyOf) return sampleFor(s.anyOf[0]);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'object' || s.properties) return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, sampleFor(v)]));
  if (type === 'array') return [sampleFor(s.items)];
  if (type === 'number' || type === 'integer') return 1898;
  if (type === 'boolean') return true;
  return 'radium';
}

function defaultAnswer(req: ModelRequest): ModelAnswer {
  const last = req.messages.at(-1);
  const tool = req.tools?.[0];
  if (tool && last?.role !== 'tool' && req.tool_choice !== 'none') return { toolCall: { name: tool.function.name, arguments: JSON.stringify(sampleFor(tool.function.parameters)) } };
  if (req.response_format?.type === 'json_schema') return { text: JSON.stringify(sampleFor(req.response_format.json_schema?.schema)) };
  if (req.response_format?.type === 'json_object') return { text: JSON.stringify({ answer: 'Radium was discovered in 1898 [1].' }) };
  if (last?.role === 'tool') return { text: `The tool said ${last.content} [1].` };
  return { text: 'Radium was discovered in 1898 [1].' };
}

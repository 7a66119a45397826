// OpenAI-compatible provider over fetch: POST {base}/chat/completions with the model, the messages and `stream`;
// streamed answers are Server-Sent Events of `chat.completion.chunk` objects ending with `data: [DONE]`. Works with
// OpenAI, vLLM, llama.cpp's server, Ollama's /v1 and any other server speaking that wire format. The API key goes
// only into the Authorization header; errors name the status and the server's message, never the key.
import type { LlmConfig } from '../../config/query-config.js';
import { RemError } from '../../rem/errors.js';
import { parseSse } from '../sse.js';
import type { LlmProvider, ProviderAnswer, ProviderRequest } from './provider.js';

const ERROR_CHARS_MAX = 300;

export class OpenAiCompatibleProvider implements LlmProvider {
  readonly name = 'openai-compatible';
  readonly model: string;

  constructor(
    private readonly cfg: LlmConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.model = cfg.model;
  }

  private async post(req: ProviderRequest, stream: boolean, signal?: AbortSignal): Promise<Response> {
    const body: Record<string, unknown> = { model: this.cfg.model, messages: req.messages, stream };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    if (this.cfg.apiKey) headers.authorization = `Bearer ${this.cfg.apiKey}`;
    const timeout = AbortSignal.timeout(this.cfg.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.cfg.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${this.cfg.timeoutMs} ms` : (err as Error).message;
      throw new RemError('provider_unavailable', `language model at ${this.cfg.baseUrl} unreachable: ${why}`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        /* not JSON */
      }
      throw new RemError('provider_error', `language model answered ${res.status}: ${message.slice(0, ERROR_CHARS_MAX)}`);
    }
    return res;
  }

  async complete(req: ProviderRequest, signal?: AbortSignal): Promise<ProviderAnswer> {
    const res = await this.post(req, false, signal);
    const json = (await res.json().catch(() => undefined)) as
      | { choices?: { message?: { content?: string | null } }[]; usage?: ProviderAnswer['usage'] }
      | undefined;
    const text = json?.choices?.[0]?.message?.content;
    if (typeof text !== 'string') throw new RemError('provider_error', 'language model answer has no choices[0].message.content');
    const out: ProviderAnswer = { text };
    if (json?.usage) out.usage = json.usage;
    return out;
  }

  async *stream(req: ProviderRequest, signal?: AbortSignal): AsyncIterable<string> {
    const res = await this.post(req, true, signal);
    if (!res.body) throw new RemError('provider_error', 'language model sent no body');
    for await (const ev of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
      if (ev.data === '[DONE]') return;
      let chunk: { choices?: { delta?: { content?: string | null } }[]; error?: { message?: string } };
      try {
        chunk = JSON.parse(ev.data);
      } catch {
        throw new RemError('provider_error', 'language model sent a stream event that is not JSON');
      }
      if (chunk.error) throw new RemError('provider_error', `language model stream failed: ${(chunk.error.message ?? '').slice(0, ERROR_CHARS_MAX)}`);
      const delta = chunk.choices?.[0]?.delta?.content;
      if (typeof delta === 'string' && delta.length > 0) yield delta;
    }
  }
}

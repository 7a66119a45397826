// The answerer behind chat: an OpenAI-compatible language model, or (with none configured) the offline extractive
// answerer. Both get the prompt messages (system prompt with numbered context, then the conversation) and the context
// items themselves, and cite context as [n] markers in their text.
import type { ChatMessage, ContextItem } from '../types.js';

export interface ProviderRequest {
  /** System prompt with the numbered context, then the conversation (within its budget). */
  messages: ChatMessage[];
  /** The numbered context: items[0] is [1]. */
  items: ContextItem[];
  /** The last user message. */
  question: string;
  /** Earlier user turns (newest last). */
  earlier: string[];
  temperature?: number;
  maxTokens?: number;
}

export interface ProviderAnswer {
  text: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface LlmProvider {
  /** `extractive` or `openai-compatible`. */
  readonly name: string;
  /** The model id reported in responses. */
  readonly model: string;
  complete(req: ProviderRequest, signal?: AbortSignal): Promise<ProviderAnswer>;
  /** The answer as text deltas. */
  stream(req: ProviderRequest, signal?: AbortSignal): AsyncIterable<string>;
}

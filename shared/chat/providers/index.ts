// Chooses the answerer behind chat from configuration.
import type { LlmConfig } from '../../config/query-config.js';
import { ExtractiveProvider } from './extractive.js';
import { OpenAiCompatibleProvider } from './openai.js';
import type { LlmProvider, ProviderObserver } from './provider.js';

/** The configured provider: OpenAI-compatible when PERCOLATE_LLM_BASE_URL is set, else the extractive answerer. */
export function createProvider(llm: LlmConfig | undefined, observer: ProviderObserver = {}): LlmProvider {
  return llm ? new OpenAiCompatibleProvider(llm, fetch, observer) : new ExtractiveProvider();
}

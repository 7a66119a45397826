// Configuration of the query dialect's bounds and of chat (context budget, language-model provider), from the
// environment. The API key is kept as a non-enumerable property, so logging or serialising the configuration
// never shows it.
import { ConfigError, intFrom } from './env.js';

export interface QueryConfig {
  /** Records one query may examine (`truncated` with bound `rows_scanned_max` beyond). */
  rowsScannedMax: number;
  /** Wall time after which a query stops scanning (bound `time_ms_max`). */
  timeMsMax: number;
  /** Wall time one row's filter may take without a pause for the event loop (bound `step_ms_max`). */
  stepMsMax: number;
}

export interface LlmConfig {
  /** OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  model: string;
  /** Bearer token; non-enumerable (see the module comment). */
  readonly apiKey?: string;
  timeoutMs: number;
}

export interface ChatConfig {
  /** Tokens of retrieved context given to the answerer (tokens approximated as characters / 4). */
  contextTokens: number;
  /** Tokens of conversation history kept (oldest turns are dropped first). */
  historyTokens: number;
  /** Undefined: no language model configured, the offline extractive answerer answers. */
  llm: LlmConfig | undefined;
}

export function loadQueryConfig(env: NodeJS.ProcessEnv): QueryConfig {
  return {
    rowsScannedMax: intFrom(env, 'PERCOLATE_QUERY_ROWS_SCANNED_MAX', 200_000, 1, 100_000_000),
    timeMsMax: intFrom(env, 'PERCOLATE_QUERY_TIME_MS_MAX', 5000, 1, 600_000),
    stepMsMax: intFrom(env, 'PERCOLATE_QUERY_STEP_MS_MAX', 100, 1, 600_000),
  };
}

export function loadChatConfig(env: NodeJS.ProcessEnv): ChatConfig {
  const baseUrl = env.PERCOLATE_LLM_BASE_URL ?? '';
  let llm: LlmConfig | undefined;
  if (baseUrl !== '') {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ConfigError(`PERCOLATE_LLM_BASE_URL must be an http(s) URL, got '${baseUrl}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`PERCOLATE_LLM_BASE_URL must be an http(s) URL, got '${baseUrl}'`);
    const model = env.PERCOLATE_LLM_MODEL ?? '';
    if (model === '') throw new ConfigError('PERCOLATE_LLM_MODEL is required when PERCOLATE_LLM_BASE_URL is set');
    llm = { baseUrl: baseUrl.replace(/\/+$/, ''), model, timeoutMs: intFrom(env, 'PERCOLATE_LLM_TIMEOUT_MS', 60_000, 100, 3_600_000) };
    if (env.PERCOLATE_LLM_API_KEY) Object.defineProperty(llm, 'apiKey', { value: env.PERCOLATE_LLM_API_KEY, enumerable: false });
  }
  return {
    contextTokens: intFrom(env, 'PERCOLATE_CHAT_CONTEXT_TOKENS', 3000, 100, 1_000_000),
    historyTokens: intFrom(env, 'PERCOLATE_CHAT_HISTORY_TOKENS', 2000, 50, 1_000_000),
    llm,
  };
}

// Chat's own metrics: how long answers take by provider and mode (a model call is seconds, not the milliseconds of a
// search), the tokens they cost, and the model's failures by status (a 429 storm is not a 500 storm).
import client from 'prom-client';

export interface ChatMetrics {
  duration: client.Histogram<'provider' | 'stream'>;
  tokens: client.Counter<'kind'>;
  providerErrors: client.Counter<'status'>;
}

export function createChatMetrics(registry: client.Registry): ChatMetrics {
  return {
    duration: new client.Histogram({
      name: 'percolate_chat_duration_seconds',
      help: 'Chat answers from request to the last byte (retrieval, the model, the session moment), by provider and stream',
      labelNames: ['provider', 'stream'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
    tokens: new client.Counter({
      name: 'percolate_chat_tokens_total',
      help: 'Tokens of chat answers by kind (prompt, completion): as the model reported them, else estimated as characters / 4',
      labelNames: ['kind'],
      registers: [registry],
    }),
    providerErrors: new client.Counter({
      name: 'percolate_provider_errors_total',
      help: "The language model's failures by status (its HTTP status, timeout or unreachable)",
      labelNames: ['status'],
      registers: [registry],
    }),
  };
}

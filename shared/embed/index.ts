// Picks the configured embedder. transformers.js (and onnxruntime) load only when asked for.
import type { Embedder } from './embedder.js';
import { HashEmbedder } from './hash-embedder.js';

export interface EmbedderOptions {
  /** `hash` or `transformers:<model-id>` (the model id is a folder under `modelDir`). */
  spec: string;
  modelDir: string;
}

export async function createEmbedder(opts: EmbedderOptions): Promise<Embedder> {
  if (opts.spec === 'hash') return new HashEmbedder(384);
  if (opts.spec.startsWith('transformers:')) {
    const modelId = opts.spec.slice('transformers:'.length);
    const { TransformersEmbedder } = await import('./transformers-embedder.js');
    return TransformersEmbedder.load({ modelDir: opts.modelDir, modelId });
  }
  throw new Error(`unknown embedder '${opts.spec}': use 'hash' or 'transformers:<model-id>'`);
}

export type { Embedder } from './embedder.js';

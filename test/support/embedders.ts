// The embedder implementations the contract test runs against.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Embedder } from '../../shared/embed/embedder.js';
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import { createEmbedder } from '../../shared/embed/index.js';
import { makeTinyModel } from '../../scripts/make-tiny-model.js';

export interface EmbedderFactory {
  name: string;
  create: () => Promise<Embedder>;
}

/** transformers.js over a model generated into a fresh temp dir; close() disposes the pipeline and removes the dir. */
async function createTinyTransformersEmbedder(): Promise<Embedder> {
  const modelDir = await mkdtemp(path.join(os.tmpdir(), 'percolate-tiny-model-'));
  try {
    await makeTinyModel(path.join(modelDir, 'tiny'));
    const inner = await createEmbedder({ spec: 'transformers:tiny', modelDir });
    return {
      id: inner.id,
      dimension: inner.dimension,
      embed: (texts) => inner.embed(texts),
      close: async () => {
        try {
          await inner.close?.();
        } finally {
          await rm(modelDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await rm(modelDir, { recursive: true, force: true });
    throw err;
  }
}

export const embedderFactories: EmbedderFactory[] = [
  { name: 'hash', create: async () => new HashEmbedder(384) },
  { name: 'transformers (tiny generated model)', create: createTinyTransformersEmbedder },
];

// The transformers.js Embedder: mean-pooled, L2-normalised feature-extraction over a local ONNX model folder
// (`<modelDir>/<modelId>/{config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx}`). Never downloads.
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { env, pipeline, type DataType, type FeatureExtractionPipeline } from '@huggingface/transformers';
import type { Embedder } from './embedder.js';

export interface TransformersEmbedderOptions {
  /** Folder holding model folders; transformers.js resolves `<modelDir>/<modelId>/...`. */
  modelDir: string;
  /** Model folder name, e.g. `tiny` or `Xenova/all-MiniLM-L6-v2`. */
  modelId: string;
  /** ONNX weight variant; `fp32` reads `onnx/model.onnx`, `q8` reads `onnx/model_quantized.onnx`, etc. */
  dtype?: DataType;
}

/** Texts per pipeline call. Each batch is padded to its longest text, so this bounds peak tensor memory. */
const BATCH_SIZE = 32;

// Same shape transformers.js accepts as a hub id. Anything else (absolute paths, `..`) it would treat as a raw path
// and silently ignore `localModelPath`, so reject it here instead of loading from somewhere unexpected.
const MODEL_ID = /^(?:[\w.-]+\/)?[\w.-]+$/;

// transformers.js keeps `env` as process-global state and reads it at several awaits inside pipeline(); two loads
// with different modelDirs running concurrently could read each other's localModelPath. Loads are serialised.
let loadQueue: Promise<unknown> = Promise.resolve();

function missingModelError(modelDir: string, modelId: string, modelPath: string, what: string): Error {
  return new Error(
    `transformers embedder: ${what} for model '${modelId}' at ${modelPath}. ` +
      `Expected a transformers.js model folder (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx) ` +
      `under modelDir ${modelDir}. Generate the tiny test model with ` +
      `\`npx tsx scripts/make-tiny-model.ts ${modelPath}\`, or copy/download a transformers.js-compatible ONNX ` +
      `model (e.g. Xenova/all-MiniLM-L6-v2) into that folder; remote model downloads are disabled.`,
  );
}

/** Fails fast with an actionable message instead of the warning-plus-deep-stack transformers.js gives for a missing folder. */
async function checkModelFolder(modelDir: string, modelId: string, dtype: DataType): Promise<void> {
  const modelPath = path.resolve(modelDir, modelId);
  const dir = await stat(modelPath).catch(() => null);
  if (!dir?.isDirectory()) throw missingModelError(modelDir, modelId, modelPath, 'model directory not found');
  // Only the files every text model needs; quantised variants have other onnx names, so check onnx/ only for fp32.
  const required = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
  if (dtype === 'fp32') required.push(path.join('onnx', 'model.onnx'));
  for (const file of required) {
    try {
      await access(path.join(modelPath, file));
    } catch {
      throw missingModelError(modelDir, modelId, modelPath, `missing ${file}`);
    }
  }
}

export class TransformersEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  private extractor: FeatureExtractionPipeline | null;

  private constructor(modelId: string, extractor: FeatureExtractionPipeline, dimension: number) {
    this.id = `transformers:${modelId}`;
    this.extractor = extractor;
    this.dimension = dimension;
  }

  static async load({ modelDir, modelId, dtype = 'fp32' }: TransformersEmbedderOptions): Promise<TransformersEmbedder> {
    if (!MODEL_ID.test(modelId) || modelId.includes('..') || modelId.includes('--')) {
      throw new Error(
        `transformers embedder: invalid model id '${modelId}': use a folder name under modelDir like 'tiny' or 'org/name'`,
      );
    }
    await checkModelFolder(modelDir, modelId, dtype);

    const run = loadQueue.then(async () => {
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.localModelPath = path.resolve(modelDir);
      // The filesystem cache is consulted *before* localModelPath, so a cached download with the same model id
      // would shadow the folder we were pointed at. With remote models off nothing is ever cached, so turn it off.
      env.useFSCache = false;
      let extractor: FeatureExtractionPipeline;
      try {
        extractor = await pipeline('feature-extraction', modelId, { dtype });
      } catch (err) {
        const modelPath = path.resolve(modelDir, modelId);
        throw new Error(
          `transformers embedder: failed to load model '${modelId}' from ${modelPath}: ` +
            `${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      return extractor;
    });
    // keep the queue alive after a failed load
    loadQueue = run.catch(() => undefined);
    const extractor = await run;

    // The pooled output width is what callers index on; a probe is authoritative even for models whose output
    // differs from config.hidden_size (e.g. exports with a projection head).
    try {
      const probe = await extractor('dimension probe', { pooling: 'mean', normalize: true });
      const dimension = probe.dims[probe.dims.length - 1];
      if (!dimension) throw new Error(`unexpected probe output shape [${probe.dims.join(', ')}]`);
      return new TransformersEmbedder(modelId, extractor, dimension);
    } catch (err) {
      await extractor.dispose();
      throw err;
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const extractor = this.extractor;
    if (!extractor) throw new Error(`${this.id}: embed() called after close()`);
    const out: Float32Array[] = new Array(texts.length);
    // Blank texts get the zero vector (the Embedder contract), not the embedding of a bare [CLS] [SEP].
    const pending: number[] = [];
    texts.forEach((t, i) => {
      if (t.trim().length === 0) out[i] = new Float32Array(this.dimension);
      else pending.push(i);
    });
    for (let start = 0; start < pending.length; start += BATCH_SIZE) {
      const idx = pending.slice(start, start + BATCH_SIZE);
      const tensor = await extractor(
        idx.map((i) => texts[i]!),
        { pooling: 'mean', normalize: true },
      );
      const data = tensor.data;
      if (!(data instanceof Float32Array) || data.length !== idx.length * this.dimension) {
        throw new Error(`${this.id}: expected float32 [${idx.length}, ${this.dimension}], got ${tensor.type} [${tensor.dims.join(', ')}]`);
      }
      // copy each row out so callers do not keep the whole batch buffer alive (or see it change)
      idx.forEach((textIndex, row) => {
        out[textIndex] = data.slice(row * this.dimension, (row + 1) * this.dimension);
      });
    }
    return out;
  }

  async close(): Promise<void> {
    const extractor = this.extractor;
    this.extractor = null;
    await extractor?.dispose();
  }
}

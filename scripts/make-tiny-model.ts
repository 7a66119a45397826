// Generates a tiny, deterministic BERT-shaped model folder (config, WordPiece tokenizer, one-Gather ONNX graph) that
// transformers.js can load offline, so the transformers embedder is testable without downloading anything.
//
// Usage: npx tsx scripts/make-tiny-model.ts <outDir> [--dimension 32] [--seed 1]
// Layout written under <outDir>:
//   config.json              model_type bert, hidden_size = dimension, vocab_size
//   tokenizer.json           BertNormalizer(lowercase) + BertPreTokenizer + WordPiece + [CLS] A [SEP] template
//   tokenizer_config.json    BertTokenizer, model_max_length 512
//   onnx/model.onnx          inputs input_ids, attention_mask (int64 [batch, sequence]);
//                            last_hidden_state = Gather(embeddings[vocab, dimension], input_ids)
// The "model" is just an embedding lookup: mean pooling over it makes texts that share tokens close, which is all
// the tests need. The ONNX protobuf is encoded by hand below so the repo needs no onnx/protobuf dependency.
import { mkdir, writeFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readArgs } from './cli-args.js';
import { mulberry32 } from './prng.js';

export interface TinyModelOptions {
  /** hidden size of the generated embeddings (default 32) */
  dimension?: number;
  /** PRNG seed for the embedding table (default 1) */
  seed?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------------------------

const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

// Common English words plus the domain words the tests and contract test use. Words that are deliberately absent
// (e.g. "jetstream", "nodes", "databases", "embeddings") exercise the WordPiece `##` splitting path.
const WORDS = `
the of and to a in is it you that he was for on are with as i his they be at one have this from or had by
not word but what some we can out other were all there when up use your how said an each she which do their
time if will way about many then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call first who may down side been now
find any new work part take get place made live where after back little only round man year came show every good
me give our under name very through just form sentence great think say help low line differ turn cause much mean
before move right boy old too same tell does set three want air well also play small end put home read hand port
large spell add even land here must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye never last let
thought city tree cross farm hard start might story saw far sea draw left late run while press close night real
life few north open seem together next white children begin got walk example ease paper group always music those
both mark often letter until mile river car feet care second book carry took science eat room friend began idea
fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual young ready
above ever red list though feel talk bird soon body dog family direct pose leave song measure door product black
short numeral class wind question happen complete ship area half rock order fire south problem piece told knew
pass since top whole king space heard best hour better true during hundred five remember step early hold west
ground interest reach fast verb sing listen six table travel less morning ten simple several vowel toward war
lay against pattern slow center love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest
hello quick brown fox jump lazy vector store embed search query index data database server client cluster node
replication replica stream jet message queue memory cache disk network tenant resource entity moment graph key
value record document text model token apple banana orange smoothie recipe fruit juice milk sugar bread cheese
`
  .split(/\s+/)
  .filter((w) => w.length > 0);

// Suffix pieces for WordPiece continuation ("node" + "##s", "jet" + "##stream", "embed" + "##ding" + "##s").
const SUFFIXES = ['s', 'es', 'ed', 'ing', 'er', 'ers', 'ly', 'ion', 'tion', 'ment', 'ness', 'able', 'al', 'y', 'stream', 'ding', 'base'];

const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');
const DIGITS = '0123456789'.split('');
const PUNCTUATION = '.,!?;:\'"()[]{}-_/\\@#$%&*+=<>'.split('');

/** The vocabulary in id order. Single letters (and `##` letters) mean any lowercase ASCII word tokenizes to
 *  something other than [UNK], so unseen words still contribute distinct vectors. */
export function tinyVocab(): string[] {
  const vocab: string[] = [];
  const seen = new Set<string>();
  const add = (t: string) => {
    if (!seen.has(t)) {
      seen.add(t);
      vocab.push(t);
    }
  };
  for (const t of SPECIAL_TOKENS) add(t);
  for (const t of PUNCTUATION) add(t);
  for (const t of DIGITS) add(t);
  for (const t of LETTERS) add(t);
  for (const w of WORDS) add(w);
  for (const s of SUFFIXES) add('##' + s);
  for (const l of LETTERS) add('##' + l);
  for (const d of DIGITS) add('##' + d);
  return vocab;
}

// ---------------------------------------------------------------------------------------------------------------
// Minimal protobuf writer (just what ModelProto needs: varints, int64 as varint, length-delimited fields)
// ---------------------------------------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: number | bigint): void {
    // BigInt throughout so int64 values (and negative numbers, as 10-byte two's complement) encode correctly.
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

// Field numbers and enum values from onnx/onnx.proto.
const ONNX = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8 },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9 },
  valueInfo: { name: 1, type: 2 },
  type: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
  dtype: { FLOAT: 1, INT64: 7 },
} as const;

type Dim = number | string;

function valueInfo(w: ProtoWriter, name: string, elemType: number, dims: Dim[]): void {
  w.string(ONNX.valueInfo.name, name);
  w.message(ONNX.valueInfo.type, (t) =>
    t.message(ONNX.type.tensorType, (tt) => {
      tt.int(ONNX.tensorType.elemType, elemType);
      tt.message(ONNX.tensorType.shape, (s) => {
        for (const d of dims) {
          s.message(ONNX.shape.dim, (dw) => {
            if (typeof d === 'number') dw.int(ONNX.dim.value, d);
            else dw.string(ONNX.dim.param, d);
          });
        }
      });
    }),
  );
}

/** Encodes the one-node graph: last_hidden_state = Gather(embeddings, input_ids) (axis 0 is Gather's default). */
export function encodeEmbeddingModel(table: Float32Array, vocabSize: number, dimension: number): Uint8Array {
  if (table.length !== vocabSize * dimension) throw new Error('embedding table size does not match vocab x dimension');
  // raw_data is little-endian; copy explicitly rather than trusting host endianness of the Float32Array buffer.
  const raw = new Uint8Array(table.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < table.length; i++) view.setFloat32(i * 4, table[i]!, true);

  const model = new ProtoWriter();
  model.int(ONNX.model.irVersion, 8);
  model.string(ONNX.model.producerName, 'percolate-make-tiny-model');
  model.string(ONNX.model.producerVersion, '1');
  model.message(ONNX.model.graph, (g) => {
    g.message(ONNX.graph.node, (n) => {
      n.string(ONNX.node.input, 'embeddings');
      n.string(ONNX.node.input, 'input_ids');
      n.string(ONNX.node.output, 'last_hidden_state');
      n.string(ONNX.node.name, 'token_embedding_lookup');
      n.string(ONNX.node.opType, 'Gather');
    });
    g.string(ONNX.graph.name, 'tiny_embedding_lookup');
    g.message(ONNX.graph.initializer, (t) => {
      t.int(ONNX.tensor.dims, vocabSize);
      t.int(ONNX.tensor.dims, dimension);
      t.int(ONNX.tensor.dataType, ONNX.dtype.FLOAT);
      t.string(ONNX.tensor.name, 'embeddings');
      t.bytes(ONNX.tensor.rawData, raw);
    });
    g.message(ONNX.graph.input, (v) => valueInfo(v, 'input_ids', ONNX.dtype.INT64, ['batch', 'sequence']));
    // Declared but unused by the graph: transformers.js only feeds inputs a session declares, and a real BERT
    // export declares attention_mask, so keeping it exercises the same feed path. Padding is handled by the
    // pipeline's mean pooling, which weights by attention_mask itself.
    g.message(ONNX.graph.input, (v) => valueInfo(v, 'attention_mask', ONNX.dtype.INT64, ['batch', 'sequence']));
    g.message(ONNX.graph.output, (v) =>
      valueInfo(v, 'last_hidden_state', ONNX.dtype.FLOAT, ['batch', 'sequence', dimension]),
    );
  });
  model.message(ONNX.model.opsetImport, (o) => {
    o.string(ONNX.opset.domain, '');
    o.int(ONNX.opset.version, 13);
  });
  return model.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Embedding table
// ---------------------------------------------------------------------------------------------------------------

function embeddingTable(vocabSize: number, dimension: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const table = new Float32Array(vocabSize * dimension);
  // Row 0 is [PAD]: zero, like a trained padding embedding. Every other row is uniform in [-1, 1): independent
  // random directions, so texts sharing tokens end up closer after mean pooling than texts that share none.
  for (let i = dimension; i < table.length; i++) table[i] = rand() * 2 - 1;
  return table;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON files
// ---------------------------------------------------------------------------------------------------------------

function tokenizerJson(vocab: string[]): object {
  const ids = new Map(vocab.map((t, i) => [t, i] as const));
  const id = (t: string) => ids.get(t)!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };
}

const tokenizerConfigJson = {
  tokenizer_class: 'BertTokenizer',
  do_lower_case: true,
  tokenize_chinese_chars: true,
  strip_accents: null,
  clean_up_tokenization_spaces: true,
  model_max_length: 512,
  unk_token: '[UNK]',
  sep_token: '[SEP]',
  pad_token: '[PAD]',
  cls_token: '[CLS]',
  mask_token: '[MASK]',
};

function configJson(vocabSize: number, dimension: number): object {
  return {
    architectures: ['BertModel'],
    model_type: 'bert',
    hidden_size: dimension,
    vocab_size: vocabSize,
    max_position_embeddings: 512,
    pad_token_id: 0,
    // Pin the plain fp32 file so loaders that do not pass a dtype still pick onnx/model.onnx.
    'transformers.js_config': { dtype: 'fp32' },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------------------------

export async function makeTinyModel(dir: string, opts: TinyModelOptions = {}): Promise<void> {
  const dimension = opts.dimension ?? 32;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(dimension) || dimension < 1) throw new Error(`dimension must be a positive integer, got ${dimension}`);

  const vocab = tinyVocab();
  const table = embeddingTable(vocab.length, dimension, seed);
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  await Promise.all([
    writeFile(path.join(dir, 'config.json'), json(configJson(vocab.length, dimension))),
    writeFile(path.join(dir, 'tokenizer.json'), json(tokenizerJson(vocab))),
    writeFile(path.join(dir, 'tokenizer_config.json'), json(tokenizerConfigJson)),
    writeFile(path.join(dir, 'onnx', 'model.onnx'), encodeEmbeddingModel(table, vocab.length, dimension)),
  ]);
}

async function isMain(): Promise<boolean> {
  const entry = process.argv[1];
  if (!entry) return false;
  // realpath on both sides so symlinked checkouts and tmp dirs still match
  try {
    return (await realpath(entry)) === (await realpath(fileURLToPath(import.meta.url)));
  } catch {
    return false;
  }
}

/** `<outDir> [--dimension N] [--seed N]` (node:util parseArgs; `--seed=N` works too). */
export function parseTinyModelArgs(argv: readonly string[]): { outDir: string; opts: TinyModelOptions } {
  const opts: TinyModelOptions = {};
  let outDir: string | undefined;
  const unexpected = (raw: string) => new Error(`unexpected argument '${raw}'`);
  for (const a of readArgs(argv, { dimension: { type: 'string' }, seed: { type: 'string' } }, unexpected)) {
    if (a.kind === 'option') {
      const n = Number(a.value);
      if (a.value === undefined || !Number.isInteger(n)) throw new Error(`--${a.name} needs an integer`);
      if (a.name === 'dimension') opts.dimension = n;
      else opts.seed = n;
    } else if (!outDir) {
      outDir = a.value;
    } else {
      throw unexpected(a.raw);
    }
  }
  if (!outDir) throw new Error('usage: tsx scripts/make-tiny-model.ts <outDir> [--dimension 32] [--seed 1]');
  return { outDir, opts };
}

if (await isMain()) {
  try {
    const { outDir, opts } = parseTinyModelArgs(process.argv.slice(2));
    await makeTinyModel(outDir, opts);
    console.log(`wrote tiny model to ${path.resolve(outDir)}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}

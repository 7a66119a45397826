// The engines compared by bench/peers.ts, behind one interface: build from the shared data, answer a vector query at
// one point of the engine's speed/recall knob, answer a keyword query, report disk use. Each runs in its own child
// process (bench/lib/peer-child.ts) so that its memory is attributable; all of them get the same vectors and texts.
import fs from 'node:fs/promises';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import { loadConfig } from '../../shared/config/config.js';
import { HashEmbedder } from '../../shared/embed/hash-embedder.js';
import { search } from '../../shared/search/search.js';
import { words } from '../../shared/rem/text.js';
import type { Resource, ResourceInput } from '../../shared/rem/types.js';
import { putResources } from '../../shared/store/resources.js';
import { DEFAULT_LIMITS, TenantStore } from '../../shared/store/tenant-store.js';
import { log } from '../report.js';

/** The benchmark data as every engine sees it (vectors are views into one contiguous Float32Array). */
export interface PeerData {
  dimension: number;
  /** All vectors back to back (count x dimension). */
  flat: Float32Array;
  vectors: Float32Array[];
  texts: string[];
}

export interface BuildInfo {
  /** Loading the rows (for incremental indexes this includes indexing). */
  ingestMs: number;
  /** Building indexes after the load (0 for engines that index on insert). */
  indexMs: number;
  /** One line on what was built and how. */
  detail: string;
}

/** One point of an engine's speed/recall knob. */
export interface Setting {
  label: string;
  ef: number;
  /** LanceDB: re-rank ef x refine candidates with the full vectors (its HNSW index stores 8-bit quantized ones). */
  refine?: number;
  /** Orama: minimum cosine similarity of a hit (its only knob; below it neighbours are dropped, not searched for). */
  similarity?: number;
}

export interface Engine {
  readonly name: string;
  /** What the index is and its parameters (one line). */
  readonly index: string;
  /** How keyword search is scored, when the engine has one. */
  readonly keyword?: string;
  settings(quick: boolean): Setting[];
  build(data: PeerData, dir: string): Promise<BuildInfo>;
  /** Called before a pass at a new setting (outside the timed region). */
  prepare?(setting: Setting): Promise<void> | void;
  /** Row numbers of the k nearest neighbours. */
  vector(q: Float32Array, k: number, setting: Setting): Promise<number[]> | number[];
  keywordSearch?(text: string, k: number): Promise<number[]>;
  /** Bytes on disk once persisted (closes the engine), or null for in-memory engines. */
  finish(): Promise<number | null>;
}

/** A database node's configuration with nothing set: our store runs with it, and every HNSW peer gets its M and efC. */
const NODE = loadConfig({ PERCOLATE_AUTH: 'off' });
export const HNSW = { m: NODE.hnswM, efConstruction: NODE.hnswEfConstruction } as const;
const EFS_FULL = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256];
const EFS_QUICK = [16, 32, 64, 128];
const efSettings = (quick: boolean, name = 'ef'): Setting[] => (quick ? EFS_QUICK : EFS_FULL).map((ef) => ({ label: `${name}=${ef}`, ef }));
const BATCH = 1000;

export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

function progress(name: string, done: number, total: number, t0: number): void {
  if (done % 10_000 === 0 || done === total) log(`${name}: ${done}/${total} rows (${((done / (performance.now() - t0)) * 1000).toFixed(0)} rows/s)`);
}

// ------------------------------------------------------------------------------------------------------------ ours

const URI_PREFIX = 'bench://doc/';
const rowOf = (r: Resource) => Number(r.uri.slice(URI_PREFIX.length));

/** Our store in-process, configured as a database node would open it (defaults of loadConfig), no replication. */
class OursEngine implements Engine {
  readonly name = 'percolate (this repo)';
  readonly index = `TenantStore: hnswlib HNSW (M=${HNSW.m}, efC=${HNSW.efConstruction}) + LevelDB records + BM25 postings`;
  readonly keyword = 'BM25 (k1=1.2, b=0.75), light stemmer, OR of terms';
  private store?: TenantStore;
  private dir = '';

  settings(quick: boolean): Setting[] {
    return efSettings(quick);
  }

  async build(data: PeerData, dir: string): Promise<BuildInfo> {
    this.dir = dir;
    const cfg = NODE;
    const store = await TenantStore.open({
      dataDir: dir,
      tenant: 'bench',
      embedder: new HashEmbedder(data.dimension),
      hnsw: { m: cfg.hnswM, efConstruction: cfg.hnswEfConstruction, efSearch: cfg.hnswEfSearch },
      vectorCheckpointOps: cfg.vectorCheckpointOps,
      syncWrites: cfg.syncWrites,
      recordCacheBytes: cfg.recordCacheBytes,
      limits: { ...DEFAULT_LIMITS, traversalNodesMax: cfg.traversalNodesMax, contentCharsMax: cfg.contentCharsMax },
      create: true,
    });
    this.store = store;
    const n = data.vectors.length;
    const t0 = performance.now();
    for (let s = 0; s < n; s += BATCH) {
      const inputs: ResourceInput[] = [];
      for (let i = s; i < Math.min(n, s + BATCH); i++) inputs.push({ uri: URI_PREFIX + i, content: data.texts[i]!, embedding: Array.from(data.vectors[i]!) });
      await putResources(store, inputs);
      progress(this.name, Math.min(n, s + BATCH), n, t0);
    }
    await store.vectorsSettled(); // every vector in the graph (insertion is deferred)
    await store.writeLock.run(async () => undefined); // vector checkpoints the ingest triggered
    return {
      ingestMs: performance.now() - t0,
      indexMs: 0,
      detail: `putResources in batches of ${BATCH} (precomputed embeddings, texts indexed for BM25 on the way), default node config`,
    };
  }

  async vector(q: Float32Array, k: number, setting: Setting): Promise<number[]> {
    const hits = await search(this.store!, { vector: q, kinds: ['resources'], mode: 'vector', limit: k, ef: setting.ef });
    return hits.map((h) => rowOf(h.record as Resource));
  }

  async keywordSearch(text: string, k: number): Promise<number[]> {
    const hits = await search(this.store!, { query: text, kinds: ['resources'], mode: 'keyword', limit: k });
    return hits.map((h) => rowOf(h.record as Resource));
  }

  async finish(): Promise<number> {
    await this.store!.close(); // writes the vector checkpoint, as a node does on shutdown
    return dirBytes(this.dir);
  }
}

// --------------------------------------------------------------------------------------------------------- hnswlib

type HierarchicalNSW = InstanceType<typeof hnswlib.HierarchicalNSW>;

/** Raw hnswlib-node: the floor for our vector path (same library, same parameters, no records, no durability). */
class HnswlibEngine implements Engine {
  readonly name = 'hnswlib-node (raw)';
  readonly index = `HNSW (M=${HNSW.m}, efC=${HNSW.efConstruction}), in memory`;
  private idx?: HierarchicalNSW;
  private dir = '';

  settings(quick: boolean): Setting[] {
    return efSettings(quick);
  }

  async build(data: PeerData, dir: string): Promise<BuildInfo> {
    this.dir = dir;
    const idx = new hnswlib.HierarchicalNSW('cosine', data.dimension);
    idx.initIndex({ maxElements: data.vectors.length, m: HNSW.m, efConstruction: HNSW.efConstruction, randomSeed: 100 });
    const n = data.vectors.length;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      idx.addPoint(Array.from(data.vectors[i]!), i);
      if ((i + 1) % 1000 === 0 || i + 1 === n) progress(this.name, i + 1, n, t0);
    }
    this.idx = idx;
    return { ingestMs: performance.now() - t0, indexMs: 0, detail: 'addPoint one vector at a time (single-threaded)' };
  }

  prepare(setting: Setting): void {
    this.idx!.setEf(setting.ef);
  }

  vector(q: Float32Array, k: number): number[] {
    return this.idx!.searchKnn(Array.from(q), k).neighbors;
  }

  async finish(): Promise<number> {
    const file = path.join(this.dir, 'index.hnsw');
    await this.idx!.writeIndex(file);
    return (await fs.stat(file)).size;
  }
}

// ---------------------------------------------------------------------------------------------------------- LanceDB

type LanceTable = import('@lancedb/lancedb').Table;

class LanceEngine implements Engine {
  readonly name = 'LanceDB';
  readonly index = `IVF_HNSW_SQ (1 partition, m=${HNSW.m}, efC=${HNSW.efConstruction}, 8-bit scalar quantization), on disk`;
  private table?: LanceTable;
  private dir = '';

  settings(quick: boolean): Setting[] {
    // quantized distances cap recall a little below 1: the refine series re-ranks candidates with the full vectors
    // (LanceDB needs ef >= k x refine)
    const refined = (quick ? [32] : [24, 32, 64, 128]).map((ef) => ({ label: `ef=${ef} refine=2`, ef, refine: 2 }));
    return [...efSettings(quick), ...refined];
  }

  async build(data: PeerData, dir: string): Promise<BuildInfo> {
    this.dir = dir;
    const lancedb = await import('@lancedb/lancedb');
    const arrow = await import('apache-arrow');
    const d = data.dimension;
    const n = data.vectors.length;
    const vectorType = new arrow.FixedSizeList(d, new arrow.Field('item', new arrow.Float32(), true));
    const schema = new arrow.Schema([new arrow.Field('id', new arrow.Int32(), false), new arrow.Field('vector', vectorType, false)]);
    const db = await lancedb.connect(dir);
    const t0 = performance.now();
    const batch = 20_000;
    const batches: InstanceType<typeof arrow.RecordBatch>[] = [];
    for (let s = 0; s < n; s += batch) {
      const e = Math.min(n, s + batch);
      // Arrow columns straight from the contiguous Float32Array: LanceDB's cheapest ingest path.
      const values = arrow.makeData({ type: new arrow.Float32(), length: (e - s) * d, data: data.flat.subarray(s * d, e * d) });
      const vectors = arrow.makeData({ type: vectorType, length: e - s, nullCount: 0, child: values });
      const ids = Int32Array.from({ length: e - s }, (_, i) => s + i);
      const rb = new arrow.RecordBatch(schema, arrow.makeData({
        type: new arrow.Struct(schema.fields),
        length: e - s,
        nullCount: 0,
        children: [arrow.makeData({ type: new arrow.Int32(), length: e - s, data: ids }), vectors],
      }));
      batches.push(rb);
    }
    // one write of the whole table: one data fragment, as a bulk load would make
    const table = await db.createTable('docs', new arrow.Table(schema, batches));
    progress(this.name, n, n, t0);
    const ingestMs = performance.now() - t0;
    const t1 = performance.now();
    await table.createIndex('vector', {
      config: lancedb.Index.hnswSq({ distanceType: 'cosine', numPartitions: 1, m: HNSW.m, efConstruction: HNSW.efConstruction }),
    });
    this.table = table;
    return { ingestMs, indexMs: performance.now() - t1, detail: `one createTable of Arrow record batches (${batch} rows each) built from the Float32Array, then createIndex (uses all cores)` };
  }

  async vector(q: Float32Array, k: number, setting: Setting): Promise<number[]> {
    let query = this.table!.query().nearestTo(q).distanceType('cosine').ef(setting.ef).limit(k).select(['id', '_distance']);
    if (setting.refine) query = query.refineFactor(setting.refine);
    const rows = await query.toArray();
    return rows.map((r: { id: number }) => r.id);
  }

  async finish(): Promise<number> {
    this.table!.close();
    return dirBytes(this.dir);
  }
}

// ------------------------------------------------------------------------------------------------ PGlite + pgvector

type PG = import('@electric-sql/pglite').PGlite;

class PgliteEngine implements Engine {
  readonly name = 'PGlite + pgvector';
  readonly index = `pgvector HNSW (m=${HNSW.m}, ef_construction=${HNSW.efConstruction}, vector_cosine_ops) + GIN on tsvector, on disk`;
  readonly keyword = "ts_rank over to_tsvector('english') (term frequency, no IDF), OR of terms";
  private pg?: PG;
  private dir = '';

  settings(quick: boolean): Setting[] {
    return efSettings(quick, 'ef_search');
  }

  async build(data: PeerData, dir: string): Promise<BuildInfo> {
    this.dir = dir;
    const { PGlite } = await import('@electric-sql/pglite');
    const { vector } = await import('@electric-sql/pglite-pgvector');
    const pg = await PGlite.create(path.join(dir, 'pgdata'), { extensions: { vector } });
    this.pg = pg;
    await pg.exec(
      `CREATE EXTENSION IF NOT EXISTS vector;
       CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, embedding vector(${data.dimension}) NOT NULL,
                          tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED);`,
    );
    const n = data.vectors.length;
    const t0 = performance.now();
    const batch = 5000;
    for (let s = 0; s < n; s += batch) {
      // COPY in text format (the bulk path; ~15% faster than multi-row INSERT here). Texts are [a-z0-9 ] only.
      let rows = '';
      for (let i = s; i < Math.min(n, s + batch); i++) rows += `${i}\t${data.texts[i]}\t[${data.vectors[i]!.join(',')}]\n`;
      await pg.query("COPY docs (id, body, embedding) FROM '/dev/blob'", [], { blob: new Blob([rows]) });
      progress(this.name, Math.min(n, s + batch), n, t0);
    }
    const ingestMs = performance.now() - t0;
    const t1 = performance.now();
    await pg.exec(
      `SET maintenance_work_mem = '1GB';
       CREATE INDEX docs_hnsw ON docs USING hnsw (embedding vector_cosine_ops) WITH (m = ${HNSW.m}, ef_construction = ${HNSW.efConstruction});`,
    );
    const hnswMs = performance.now() - t1;
    log(`${this.name}: HNSW index built in ${(hnswMs / 1000).toFixed(1)}s`);
    const t2 = performance.now();
    await pg.exec(`CREATE INDEX docs_tsv ON docs USING gin (tsv); ANALYZE docs;`);
    const ginMs = performance.now() - t2;
    return {
      ingestMs,
      indexMs: performance.now() - t1,
      detail: `COPY in batches of ${batch} (tsvector computed on insert), then HNSW ${(hnswMs / 1000).toFixed(1)}s + GIN ${(ginMs / 1000).toFixed(1)}s (single-threaded WASM)`,
    };
  }

  async prepare(setting: Setting): Promise<void> {
    await this.pg!.exec(`SET hnsw.ef_search = ${setting.ef}`);
  }

  async vector(q: Float32Array, k: number): Promise<number[]> {
    const res = await this.pg!.query<{ id: number }>(`SELECT id FROM docs ORDER BY embedding <=> $1 LIMIT ${k}`, [`[${q.join(',')}]`]);
    return res.rows.map((r) => r.id);
  }

  async keywordSearch(text: string, k: number): Promise<number[]> {
    const query = words(text).join(' | ');
    if (!query) return [];
    const res = await this.pg!.query<{ id: number }>(
      `SELECT id FROM docs, to_tsquery('english', $1) q WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT ${k}`,
      [query],
    );
    return res.rows.map((r) => r.id);
  }

  async finish(): Promise<number> {
    await this.pg!.exec('CHECKPOINT');
    await this.pg!.close();
    return dirBytes(this.dir);
  }
}

// ----------------------------------------------------------------------------------------------------------- Orama

type OramaDb = import('@orama/orama').AnyOrama;

class OramaEngine implements Engine {
  readonly name = 'Orama';
  readonly index = 'brute-force vector scan (no ANN index) + BM25 full-text index, in memory';
  readonly keyword = 'BM25 (k=1.2, b=0.75, d=0.5), prefix matching of terms, OR of terms';
  private db?: OramaDb;
  private orama?: typeof import('@orama/orama');

  settings(quick: boolean): Setting[] {
    // 0.8 is Orama's default: it silently drops true neighbours less similar than that; lower thresholds keep more
    // candidates to sort (the scan itself is the same)
    return (quick ? [0.8, 0] : [0.8, 0.5, 0]).map((similarity) => ({
      label: `similarity≥${similarity}${similarity === 0.8 ? ' (default)' : ''}`,
      ef: 0,
      similarity,
    }));
  }

  async build(data: PeerData): Promise<BuildInfo> {
    const orama = await import('@orama/orama');
    this.orama = orama;
    const db = orama.create({ schema: { text: 'string', embedding: `vector[${data.dimension}]` } as const });
    const n = data.vectors.length;
    const t0 = performance.now();
    for (let s = 0; s < n; s += BATCH) {
      const docs = [];
      // Orama rejects typed arrays in documents: plain number[] it is.
      for (let i = s; i < Math.min(n, s + BATCH); i++) docs.push({ id: String(i), text: data.texts[i]!, embedding: Array.from(data.vectors[i]!) });
      await orama.insertMultiple(db, docs, BATCH);
      progress(this.name, Math.min(n, s + BATCH), n, t0);
    }
    this.db = db;
    return { ingestMs: performance.now() - t0, indexMs: 0, detail: `insertMultiple in batches of ${BATCH} (text indexed on insert)` };
  }

  async vector(q: Float32Array, k: number, setting: Setting): Promise<number[]> {
    const res = await this.orama!.search(this.db!, {
      mode: 'vector',
      vector: { value: q as unknown as number[], property: 'embedding' },
      similarity: setting.similarity!,
      limit: k,
    });
    return res.hits.map((h) => Number(h.id));
  }

  async keywordSearch(text: string, k: number): Promise<number[]> {
    const res = await this.orama!.search(this.db!, { term: text, properties: ['text'], threshold: 1, limit: k });
    return res.hits.map((h) => Number(h.id));
  }

  async finish(): Promise<null> {
    return null;
  }
}

export const ENGINES = {
  ours: () => new OursEngine(),
  hnswlib: () => new HnswlibEngine(),
  lancedb: () => new LanceEngine(),
  pglite: () => new PgliteEngine(),
  orama: () => new OramaEngine(),
} satisfies Record<string, () => Engine>;

export type EngineId = keyof typeof ENGINES;
export const ENGINE_IDS = Object.keys(ENGINES) as EngineId[];

// ------------------------------------------------------------------------------------- parent <-> child protocol

/** Files the parent writes once and every child reads: vectors.f32, queries.f32 (little-endian float32), texts.json. */
export const DATA_FILES = { vectors: 'vectors.f32', queries: 'queries.f32', texts: 'texts.json' } as const;

export type ChildRequest =
  | { id: number; op: 'build' }
  | { id: number; op: 'vector'; setting: Setting; queries: number; k: number }
  | { id: number; op: 'keyword'; texts: string[]; k: number }
  | { id: number; op: 'finish' };

/** A request without its id (the parent numbers them). */
export type ChildRequestBody = ChildRequest extends infer R ? (R extends ChildRequest ? Omit<R, 'id'> : never) : never;

export interface ChildReady {
  ready: true;
  engine: string;
  index: string;
  keyword: string | null;
  settings: Setting[];
  /** RSS after the data was loaded (before the engine's module is imported or anything is built). */
  baselineRss: number;
}

export interface BuildResult extends BuildInfo {
  /** RSS after the build and a full GC. */
  rssAfterBuild: number;
}

export interface PassResult {
  lat: number[];
  wallMs: number;
  ids: number[][];
}

export interface FinishResult {
  diskBytes: number | null;
  /** Highest RSS of the child over its life (VmHWM). */
  peakRss: number;
  /** RSS after the queries and a full GC, before finish. */
  rssAfterQueries: number;
}

export type ChildResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

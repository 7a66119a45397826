// One engine of bench/peers.ts in its own process, so its RSS is its own. Forked with IPC by the parent:
//   argv: <data dir written by the parent> <work dir for the engine's files> <engine id>
// Loads the shared data, reports ready (with the RSS baseline), then answers requests one at a time.
import fs from 'node:fs';
import path from 'node:path';
import { peakRssBytes, rssBytes } from '../../test/support/proc.js';
import {
  DATA_FILES,
  ENGINES,
  type BuildResult,
  type ChildReady,
  type ChildRequest,
  type ChildResponse,
  type Engine,
  type EngineId,
  type FinishResult,
  type PassResult,
  type PeerData,
} from './peer-engines.js';

const [dataDir, workDir, engineId] = process.argv.slice(2) as [string, string, EngineId];
if (!process.send || !dataDir || !workDir || !(engineId in ENGINES)) {
  throw new Error('peer-child is started by bench/peers.ts (fork with IPC): peer-child <data dir> <work dir> <engine>');
}
const send = process.send.bind(process);

/** Reads straight into one Float32Array: no second copy whose late release would skew the RSS baseline. */
function readF32(file: string): Float32Array {
  const p = path.join(dataDir, file);
  const out = new Float32Array(fs.statSync(p).size / 4);
  const bytes = new Uint8Array(out.buffer);
  const fd = fs.openSync(p, 'r');
  try {
    for (let off = 0; off < bytes.length; ) {
      const n = fs.readSync(fd, bytes, off, bytes.length - off, off);
      if (n === 0) throw new Error(`${p}: short read`);
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function views(flat: Float32Array, dimension: number): Float32Array[] {
  return Array.from({ length: flat.length / dimension }, (_, i) => flat.subarray(i * dimension, (i + 1) * dimension));
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

const { dimension, texts } = JSON.parse(fs.readFileSync(path.join(dataDir, DATA_FILES.texts), 'utf8')) as { dimension: number; texts: string[] };
const flat = readF32(DATA_FILES.vectors);
const data: PeerData = { dimension, flat, vectors: views(flat, dimension), texts };
const queries = views(readF32(DATA_FILES.queries), dimension);
const engine: Engine = ENGINES[engineId]();
const quick = process.env.PERCOLATE_PEERS_QUICK === '1';
// let the loading garbage (JSON text, strings) be collected and its memory returned before taking the baseline
gc();
await new Promise((r) => setTimeout(r, 200));
gc();
const ready: ChildReady = {
  ready: true,
  engine: engine.name,
  index: engine.index,
  keyword: engine.keyword ?? null,
  settings: engine.settings(quick),
  baselineRss: rssBytes(process.pid),
};
send(ready);

async function handle(req: ChildRequest): Promise<unknown> {
  switch (req.op) {
    case 'build': {
      const info = await engine.build(data, workDir);
      gc();
      return { ...info, rssAfterBuild: rssBytes(process.pid) } satisfies BuildResult;
    }
    case 'vector': {
      await engine.prepare?.(req.setting);
      const n = Math.min(req.queries, queries.length);
      const lat: number[] = new Array(n);
      const ids: number[][] = new Array(n);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        const r = engine.vector(queries[i]!, req.k, req.setting);
        ids[i] = r instanceof Promise ? await r : r;
        lat[i] = performance.now() - s;
      }
      return { lat, wallMs: performance.now() - t0, ids } satisfies PassResult;
    }
    case 'keyword': {
      if (!engine.keywordSearch) throw new Error(`${engine.name} has no keyword search`);
      const lat: number[] = new Array(req.texts.length);
      const ids: number[][] = new Array(req.texts.length);
      const t0 = performance.now();
      for (let i = 0; i < req.texts.length; i++) {
        const s = performance.now();
        ids[i] = await engine.keywordSearch(req.texts[i]!, req.k);
        lat[i] = performance.now() - s;
      }
      return { lat, wallMs: performance.now() - t0, ids } satisfies PassResult;
    }
    case 'finish': {
      gc();
      const rssAfterQueries = rssBytes(process.pid);
      const diskBytes = await engine.finish();
      return { diskBytes, peakRss: peakRssBytes(process.pid), rssAfterQueries } satisfies FinishResult;
    }
  }
}

// One request at a time, in arrival order (the parent never overlaps them, but a queue keeps that true regardless).
let queue: Promise<void> = Promise.resolve();
process.on('message', (req: ChildRequest) => {
  queue = queue.then(async () => {
    let res: ChildResponse;
    try {
      res = { id: req.id, ok: true, result: await handle(req) };
    } catch (err) {
      res = { id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    send(res);
    if (req.op === 'finish') process.disconnect();
  });
});

// Latency statistics, ground truth and number formatting shared by the search and peers benchmarks.
import { bruteForceTopK, mulberry32 } from '../dataset.js';
import { log, mean, percentile } from '../report.js';

export interface LatencyStats {
  recall: number;
  qps: number;
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
}

/** Per-query latencies (ms) and the wall time of the run they came from; recall is carried through (NaN = not measured). */
export function stats(latMs: ArrayLike<number>, wallMs: number, recall = NaN): LatencyStats {
  return {
    recall,
    qps: (latMs.length / wallMs) * 1000,
    mean_ms: mean(latMs),
    p50_ms: percentile(latMs, 50),
    p99_ms: percentile(latMs, 99),
  };
}

/** One timed pass over a query set: per-query latencies, wall time and mean recall@k (NaN when not measured). */
export interface Pass {
  lat: ArrayLike<number>;
  wallMs: number;
  recall: number;
}

/** Pools the passes of one engine at one setting (passes are alternated with other engines' so noise spreads evenly). */
export function combine(passes: readonly Pass[]): LatencyStats {
  const lat = new Float64Array(passes.reduce((n, p) => n + p.lat.length, 0));
  let off = 0;
  for (const p of passes) {
    lat.set(p.lat, off);
    off += p.lat.length;
  }
  return stats(lat, passes.reduce((t, p) => t + p.wallMs, 0), passes[0]?.recall ?? NaN);
}

export function roundStats(s: LatencyStats): Record<string, number | null> {
  return {
    recall: Number.isFinite(s.recall) ? r3(s.recall) : null,
    qps: Math.round(s.qps),
    mean_ms: r3(s.mean_ms),
    p50_ms: r3(s.p50_ms),
    p99_ms: r3(s.p99_ms),
  };
}

/** Exact top-k of every query (brute force), with progress on stderr. */
export function groundTruth(vectors: readonly Float32Array[], queries: readonly Float32Array[], k: number): number[][] {
  const t0 = performance.now();
  const truth: number[][] = [];
  for (let i = 0; i < queries.length; i++) {
    truth.push(bruteForceTopK(vectors, queries[i]!, k));
    if ((i + 1) % 50 === 0) log(`ground truth ${i + 1}/${queries.length}`);
  }
  log(`ground truth done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  return truth;
}

/** Keyword queries: three consecutive words of a random document (its "document <n>" prefix dropped), fixed seed. */
export function textQueries(texts: readonly string[], count: number, seed: number): string[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const words = texts[Math.floor(rand() * texts.length)]!.split(' ').slice(2);
    const start = Math.floor(rand() * (words.length - 3));
    return words.slice(start, start + 3).join(' ');
  });
}

export const r3 = (x: number) => Math.round(x * 1000) / 1000;
export const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '—');
export const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

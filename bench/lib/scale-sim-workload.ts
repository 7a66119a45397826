// The workload of the scale simulation (bench/scale-sim.ts): tenants ranked by popularity, a Zipf law over the ranks
// for requests and writes alike, a seeded PRNG and the samplers the simulation draws its counts and gaps with.
//
// Requests to all tenants form a Poisson stream whose events fall on tenant i with probability p_i (Zipf); split by
// tenant, that is one independent Poisson stream per tenant of rate rate * p_i (Poisson splitting). The simulation
// draws each tenant's stream on its own, in time order, so 1M tenants cost what their events cost (no per-step scan
// of every tenant), and a tenant's history does not depend on the order tenants are simulated in.

/** mulberry32: a 32-bit state, good enough for simulation draws, and cheap. */
import { fmix32 } from '../../shared/rem/hash32.js';
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform in (0, 1]: safe under a logarithm. */
  nextOpen(): number {
    return 1 - this.next();
  }
}

/** The seed of tenant i's own stream: the run's seed and the tenant mixed (different for neighbours). */
export function tenantSeed(seed: number, i: number): number {
  return fmix32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
}

/** Zipf probabilities over `n` ranks with exponent `s`: p[i] ∝ 1 / (i + 1)^s, summing to 1. */
export function zipfProbabilities(n: number, s: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new Error(`Zipf needs at least one rank, got ${n}`);
  if (!(s >= 0)) throw new Error(`Zipf exponent must be >= 0, got ${s}`);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.pow(i + 1, -s);
  for (let i = 0; i < n; i++) p[i]! /= sum;
  return p;
}

/** Exponential with rate `rate` (mean 1 / rate). */
export function exponential(rng: Mulberry32, rate: number): number {
  return -Math.log(rng.nextOpen()) / rate;
}

/** Below this mean a Poisson count is drawn exactly (inversion); above, by its normal approximation. */
const POISSON_EXACT_MEAN_MAX = 30;

/** A Poisson count of mean `mean`. */
export function poisson(rng: Mulberry32, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > POISSON_EXACT_MEAN_MAX) {
    // Box-Muller; the relative error of the approximation at mean 30 is well under the run-to-run noise
    const z = Math.sqrt(-2 * Math.log(rng.nextOpen())) * Math.cos(2 * Math.PI * rng.next());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  // inversion: walk the CDF from 0 (about mean + 1 steps)
  const u = rng.next();
  let k = 0;
  let term = Math.exp(-mean);
  let cdf = term;
  while (u >= cdf && k < 1000) {
    k++;
    term *= mean / k;
    cdf += term;
  }
  return k;
}

// The retention score of a tenant on this node: the higher it is, the longer the tenant stays hot (open) and local
// (warm). Over a budget, the tenant manager demotes the tenants with the lowest score first.
//
//   score = access_1h · ln(1 + accesses in the last hour)
//         + access_24h · ln(1 + accesses in the last 24 hours)
//         + rebuild · ln(1 + rebuild cost in ms / 100)         (what bringing it back would cost: its last open/restore)
//         − size · ln(1 + size on disk in MiB)                  (a big tenant frees more when demoted)
//         − idle_hours · hours since its last access
//         + pinned                                              (when pinned)
//
// Logarithms keep one very busy tenant from outweighing everything else; the weights come from configuration
// (PERCOLATE_TENANT_SCORE_WEIGHTS) and the README repeats this formula.
import { SCORE_WEIGHTS_CONFIG_DEFAULT, type ScoreWeightsConfig } from '../config/lifecycle-config.js';

export type ScoreWeights = ScoreWeightsConfig;
export const SCORE_WEIGHTS_DEFAULT: ScoreWeights = SCORE_WEIGHTS_CONFIG_DEFAULT;

export interface ScoreInputs {
  accessCount1h: number;
  accessCount24h: number;
  /** Time the tenant's last open or restore took; 0 when unknown. */
  rebuildMs: number;
  sizeBytes: number;
  /** Time since the last access; 0 when it was never accessed on this node since it came. */
  idleMs: number;
  pinned: boolean;
}

export function retentionScore(x: ScoreInputs, w: ScoreWeights = SCORE_WEIGHTS_DEFAULT): number {
  const score =
    w.access_1h * Math.log1p(Math.max(0, x.accessCount1h)) +
    w.access_24h * Math.log1p(Math.max(0, x.accessCount24h)) +
    w.rebuild * Math.log1p(Math.max(0, x.rebuildMs) / 100) -
    w.size * Math.log1p(Math.max(0, x.sizeBytes) / 2 ** 20) -
    w.idle_hours * (Math.max(0, x.idleMs) / 3_600_000) +
    (x.pinned ? w.pinned : 0);
  return Math.round(score * 1000) / 1000;
}

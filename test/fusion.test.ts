import { describe, expect, it } from 'vitest';
import { RRF_K, reciprocalRankFusion } from '../shared/index/fusion.js';

describe('reciprocal rank fusion', () => {
  it('scores each id by the sum of 1/(k + rank) over the lists that contain it', () => {
    const fused = reciprocalRankFusion([[{ id: 'a' }, { id: 'b' }], [{ id: 'b' }, { id: 'c' }]]);
    const score = Object.fromEntries(fused.map((f) => [f.id, f.score]));
    expect(score.a).toBeCloseTo(1 / (RRF_K + 1));
    expect(score.b).toBeCloseTo(1 / (RRF_K + 2) + 1 / (RRF_K + 1));
    expect(score.c).toBeCloseTo(1 / (RRF_K + 2));
    expect(fused.map((f) => f.id)).toEqual(['b', 'a', 'c']);
  });

  it('uses k = 60 by default and breaks ties by id so results are stable', () => {
    expect(RRF_K).toBe(60);
    const fused = reciprocalRankFusion([[{ id: 'z' }], [{ id: 'y' }]]);
    expect(fused.map((f) => f.id)).toEqual(['y', 'z']);
  });
});

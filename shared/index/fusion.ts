// Reciprocal rank fusion: combines ranked lists by sum(1 / (k + rank)), robust to incomparable score scales.

export const RRF_K = 60;

export interface RankedId {
  id: string;
}

export function reciprocalRankFusion(lists: ReadonlyArray<readonly RankedId[]>, k = RRF_K): { id: string; score: number }[] {
  const scores = new Map<string, number>();
  for (const list of lists) {
    list.forEach((item, rank) => {
      scores.set(item.id, (scores.get(item.id) ?? 0) + 1 / (k + rank + 1));
    });
  }
  return [...scores.entries()]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

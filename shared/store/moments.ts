// Moments: immutable time-anchored events (meetings, conversations, ingestions), listed newest first by start time.
import { ByteBudget, RESPONSE_BYTES_BOUND, textBytes } from '../rem/byte-budget.js';
import { TimeSlice } from '../rem/time-slice.js';
import { RemError } from '../rem/errors.js';
import { momentId } from '../rem/ids.js';
import { checkMomentInput } from '../rem/rules.js';
import type { Moment, MomentInput } from '../rem/types.js';
import { HIGH, MOMENT_TIME_PREFIX, decodeCursor, encodeCursor, momentTimeBound } from './keys.js';
import type { ListResult } from './resources.js';
import { momentText } from '../rem/record-text.js';
import { deleteLocal, putWholeRecords, type WriteOptions } from './whole-records.js';
import type { TenantStore } from './tenant-store.js';

export { momentText } from '../rem/record-text.js';

interface Prepared {
  id: string;
  input: MomentInput;
  startMs: number;
  vector?: Float32Array;
}

function prepare(store: TenantStore, input: MomentInput, i: number): Prepared {
  const c = checkMomentInput(input, `moments[${i}]`, { contentCharsMax: store.limits.contentCharsMax, dimension: store.dimension });
  const p: Prepared = { id: momentId(input), input, startMs: c.startMs };
  if (c.vector) p.vector = c.vector;
  return p;
}

function toRecord(p: Prepared): Moment {
  const i = p.input;
  return {
    id: p.id,
    name: i.name ?? '',
    summary: i.summary,
    moment_type: i.moment_type ?? 'other',
    start_time: new Date(p.startMs).toISOString(),
    end_time: i.end_time ? new Date(Date.parse(i.end_time)).toISOString() : null,
    tags: i.tags ?? [],
    people: i.people ?? [],
    resource_ids: i.resource_ids ?? [],
    entity_ids: i.entity_ids ?? [],
    metadata: i.metadata ?? {},
    created_at: '',
    updated_at: '',
  };
}

/** Upserts moments (a write replaces the record); returns ids in input order. */
export async function putMoments(store: TenantStore, inputs: readonly MomentInput[], opts: WriteOptions = {}): Promise<string[]> {
  const prepared = inputs.map((input, i) => prepare(store, input, i));
  return putWholeRecords(store, 'moments', prepared, (p) => momentText(toRecord(p)), toRecord, opts);
}

export async function deleteMoment(store: TenantStore, id: string): Promise<boolean> {
  return deleteLocal(store, 'moments', id);
}

export interface MomentQuery {
  fromMs?: number;
  toMs?: number;
  type?: string;
  tag?: string;
  limit: number;
  cursor?: string;
  /** Index entries examined at most, so a rare type or tag cannot turn one request into a full scan. */
  scanMax?: number;
}

/** Moments newest first (by start time) within [from, to], filtered by type and tag, with an opaque cursor. */
export async function listMoments(
  store: TenantStore,
  q: MomentQuery,
): Promise<ListResult<Moment> & { truncated: boolean; bound?: 'scan_max' | typeof RESPONSE_BYTES_BOUND }> {
  const lower = q.fromMs !== undefined ? momentTimeBound(q.fromMs) : MOMENT_TIME_PREFIX;
  let upper = q.toMs !== undefined ? momentTimeBound(q.toMs + 1) : MOMENT_TIME_PREFIX + HIGH;
  if (q.cursor) {
    const after = decodeCursor(q.cursor, MOMENT_TIME_PREFIX);
    if (!after) throw new RemError('invalid_request', 'cursor is not valid for this listing');
    if (after < upper) upper = after;
  }
  const scanMax = q.scanMax ?? 100_000;
  const items: Moment[] = [];
  let lastKey: string | undefined;
  let scanned = 0;
  let more = false;
  let truncated = false;
  let bound: 'scan_max' | typeof RESPONSE_BYTES_BOUND | undefined;
  const budget = new ByteBudget(store.limits.responseBytesMax);
  const slice = new TimeSlice();
  const it = store.iterator<string>('idx', { gte: lower, lt: upper, reverse: true });
  try {
    outer: for (;;) {
      const entries = await it.nextv(Math.min(256, q.limit * 4 + 1));
      if (entries.length === 0) break;
      const records = await store.getManyJson('moments', entries.map(([, id]) => id));
      for (let i = 0; i < entries.length; i++) {
        if (slice.due()) await slice.pause();
        if (++scanned > scanMax) {
          truncated = more = true;
          bound = 'scan_max';
          break outer;
        }
        const j = records[i];
        const m = j === undefined ? undefined : (JSON.parse(j) as Moment);
        if (!m || (q.type !== undefined && m.moment_type !== q.type) || (q.tag !== undefined && !m.tags.includes(q.tag))) {
          lastKey = entries[i]![0];
          continue;
        }
        if (items.length === q.limit) {
          more = true;
          break outer;
        }
        if (!budget.take(textBytes(j!)) && items.length > 0) {
          truncated = more = true;
          bound = RESPONSE_BYTES_BOUND;
          break outer;
        }
        items.push(m);
        lastKey = entries[i]![0];
      }
    }
  } finally {
    await it.close();
  }
  return { items, next_cursor: more && lastKey ? encodeCursor(lastKey) : null, truncated, ...(bound ? { bound } : {}) };
}

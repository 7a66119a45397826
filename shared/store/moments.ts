// Moments: immutable time-anchored events (meetings, conversations, ingestions), listed newest first by start time.
import { RemError, invalid } from '../rem/errors.js';
import { momentId } from '../rem/ids.js';
import type { Moment, MomentInput } from '../rem/types.js';
import { checkEmbedding, checkObject, checkStringList, checkText, parseTime } from '../rem/validate.js';
import type { BatchOp } from '../index/keyword-index.js';
import { HIGH, MOMENT_TIME_PREFIX, decodeCursor, encodeCursor, momentTimeBound, momentTimeKey } from './keys.js';
import type { ListResult } from './resources.js';
import { momentText } from '../rem/record-text.js';
import { deleteLocal, putWholeRecords } from './apply.js';
import type { TenantStore } from './tenant-store.js';

export const LIST_ITEMS_MAX = 1000;
const SHORT_TEXT_MAX = 1024;

export { momentText } from '../rem/record-text.js';

interface Prepared {
  id: string;
  input: MomentInput;
  startMs: number;
  vector?: Float32Array;
}

function prepare(store: TenantStore, input: MomentInput, i: number): Prepared {
  const f = `moments[${i}]`;
  if (input === null || typeof input !== 'object') throw invalid(`${f} must be an object`);
  checkText(input.summary, `${f}.summary`, store.limits.contentCharsMax, { allowControl: true });
  const startMs = parseTime(input.start_time, `${f}.start_time`);
  if (input.end_time !== undefined && input.end_time !== null) {
    const endMs = parseTime(input.end_time, `${f}.end_time`);
    if (endMs < startMs) throw invalid(`${f}.end_time must not be before start_time`);
  }
  if (input.id !== undefined) checkText(input.id, `${f}.id`, SHORT_TEXT_MAX);
  if (input.name !== undefined) checkText(input.name, `${f}.name`, SHORT_TEXT_MAX);
  if (input.moment_type !== undefined) checkText(input.moment_type, `${f}.moment_type`, 128);
  for (const list of ['tags', 'people', 'resource_ids', 'entity_ids'] as const) {
    checkStringList(input[list], `${f}.${list}`, LIST_ITEMS_MAX, SHORT_TEXT_MAX);
  }
  checkObject(input.metadata, `${f}.metadata`);
  const p: Prepared = { id: momentId(input), input, startMs };
  if (input.embedding !== undefined) p.vector = checkEmbedding(input.embedding, store.dimension, `${f}.embedding`);
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
export async function putMoments(store: TenantStore, inputs: readonly MomentInput[]): Promise<string[]> {
  const prepared = inputs.map((input, i) => prepare(store, input, i));
  return putWholeRecords(store, 'moments', prepared, (p) => momentText(toRecord(p)), toRecord);
}

export async function deleteMoment(store: TenantStore, id: string): Promise<boolean> {
  return deleteLocal(store, 'moments', id);
}

/** Secondary-index changes when a moment goes from `old` to `next` (its start time may move with an explicit id). */
export function momentIndexOps(store: TenantStore, old: Moment | undefined, next: Moment | undefined): BatchOp[] {
  const ops: BatchOp[] = [];
  const oldKey = old ? momentTimeKey(Date.parse(old.start_time), old.id) : undefined;
  const newKey = next ? momentTimeKey(Date.parse(next.start_time), next.id) : undefined;
  if (oldKey && oldKey !== newKey) ops.push({ type: 'del', sublevel: store.idx, key: oldKey });
  if (newKey && newKey !== oldKey) ops.push({ type: 'put', sublevel: store.idx, key: newKey, value: next!.id });
  return ops;
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
export async function listMoments(store: TenantStore, q: MomentQuery): Promise<ListResult<Moment> & { truncated: boolean }> {
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
  const it = store.idx.iterator({ gte: lower, lt: upper, reverse: true });
  try {
    outer: for (;;) {
      const entries = await it.nextv(Math.min(256, q.limit * 4 + 1));
      if (entries.length === 0) break;
      const records = await store.getMany<Moment>('moments', entries.map(([, id]) => id));
      for (let i = 0; i < entries.length; i++) {
        if (++scanned > scanMax) {
          truncated = more = true;
          break outer;
        }
        const m = records[i];
        if (!m || (q.type !== undefined && m.moment_type !== q.type) || (q.tag !== undefined && !m.tags.includes(q.tag))) {
          lastKey = entries[i]![0];
          continue;
        }
        if (items.length === q.limit) {
          more = true;
          break outer;
        }
        items.push(m);
        lastKey = entries[i]![0];
      }
    }
  } finally {
    await it.close();
  }
  return { items, next_cursor: more && lastKey ? encodeCursor(lastKey) : null, truncated };
}

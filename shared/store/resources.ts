// Resources: immutable-per-version document chunks identified by (uri, chunk_ordinal). A write replaces the record.
import { ByteBudget, textBytes } from '../rem/byte-budget.js';
import { TimeSlice } from '../rem/time-slice.js';
import { RemError } from '../rem/errors.js';
import { checkResourceInput } from '../rem/rules.js';
import type { Resource, ResourceInput } from '../rem/types.js';
import { RESOURCE_URI_PREFIX, HIGH, decodeCursor, encodeCursor } from './keys.js';
import { resourceText } from '../rem/record-text.js';
export { resourceText } from '../rem/record-text.js';
import { deleteLocal, putWholeRecords, type WriteOptions } from './whole-records.js';
import type { TenantStore } from './tenant-store.js';

interface Prepared {
  id: string;
  input: ResourceInput;
  uri: string;
  ordinal: number;
  vector?: Float32Array;
}

function prepare(store: TenantStore, input: ResourceInput, i: number): Prepared {
  const c = checkResourceInput(input, `resources[${i}]`, { contentCharsMax: store.limits.contentCharsMax, dimension: store.dimension });
  const p: Prepared = { id: c.id, input, uri: c.uri, ordinal: c.ordinal };
  if (c.vector) p.vector = c.vector;
  return p;
}

/** Upserts resources; returns their ids in input order. Duplicate ids within one call: the last one wins. */
export async function putResources(store: TenantStore, inputs: readonly ResourceInput[], opts: WriteOptions = {}): Promise<string[]> {
  const prepared = inputs.map((input, i) => prepare(store, input, i));
  return putWholeRecords(
    store,
    'resources',
    prepared,
    (p) => resourceText({ name: p.input.name ?? '', content: p.input.content }),
    (p) => ({
      id: p.id,
      uri: p.uri,
      name: p.input.name ?? '',
      content: p.input.content,
      chunk_ordinal: p.ordinal,
      metadata: p.input.metadata ?? {},
      ...(p.input.source ? { source: p.input.source } : {}),
      created_at: '',
      updated_at: '',
    }),
    opts,
  );
}

export async function deleteResource(store: TenantStore, id: string): Promise<boolean> {
  return deleteLocal(store, 'resources', id);
}

export interface ListResult<T> {
  items: T[];
  next_cursor: string | null;
  /** True when the page stopped early at the byte budget (the cursor continues after the last item). */
  truncated?: boolean;
}

/**
 * Resources in (uri, chunk_ordinal) order, optionally under a uri prefix, with an opaque cursor. A page holds at
 * most `limit` records and at most the store's `responseBytesMax` of them (at least one), so a page of big records
 * ends early with `truncated` and a cursor instead of an answer too big to build.
 */
export async function listResources(
  store: TenantStore,
  opts: { uriPrefix?: string; cursor?: string; limit: number },
): Promise<ListResult<Resource>> {
  const lower = RESOURCE_URI_PREFIX + (opts.uriPrefix ?? '');
  const range: { gte?: string; gt?: string; lt: string; limit: number } = { lt: lower + HIGH, limit: opts.limit + 1 };
  if (opts.cursor) {
    const after = decodeCursor(opts.cursor, lower);
    if (!after) throw new RemError('invalid_request', 'cursor is not valid for this listing');
    range.gt = after;
  } else {
    range.gte = lower;
  }
  const entries = await store.iterator<string>('idx', range).all();
  const page = entries.slice(0, opts.limit);
  const budget = new ByteBudget(store.limits.responseBytesMax);
  const items: Resource[] = [];
  let lastKey: string | undefined;
  let truncated = false;
  const CHUNK = 64;
  const slice = new TimeSlice();
  outer: for (let start = 0; start < page.length; start += CHUNK) {
    const chunk = page.slice(start, start + CHUNK);
    const json = await store.getManyJson('resources', chunk.map(([, id]) => id));
    for (let i = 0; i < chunk.length; i++) {
      if (slice.due()) await slice.pause(); // parsing a page of big records takes tens of milliseconds
      const j = json[i];
      if (j !== undefined) {
        if (!budget.take(textBytes(j)) && items.length > 0) {
          truncated = true;
          break outer;
        }
        items.push(JSON.parse(j) as Resource);
      }
      lastKey = chunk[i]![0];
    }
  }
  const more = truncated || entries.length > opts.limit;
  const out: ListResult<Resource> = { items, next_cursor: more && lastKey !== undefined ? encodeCursor(lastKey) : null };
  if (truncated) out.truncated = true;
  return out;
}

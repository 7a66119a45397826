// Resources: immutable-per-version document chunks identified by (uri, chunk_ordinal). A write replaces the record.
import { RemError, invalid } from '../rem/errors.js';
import { resourceId } from '../rem/ids.js';
import type { Resource, ResourceInput } from '../rem/types.js';
import { checkEmbedding, checkObject, checkText } from '../rem/validate.js';
import type { BatchOp } from '../index/keyword-index.js';
import { RESOURCE_URI_PREFIX, HIGH, decodeCursor, encodeCursor, resourceUriKey } from './keys.js';
import { resourceText } from '../rem/record-text.js';
export { resourceText } from '../rem/record-text.js';
import { deleteLocal, putWholeRecords } from './apply.js';
import type { TenantStore } from './tenant-store.js';

export const URI_CHARS_MAX = 2048;
export const NAME_CHARS_MAX = 1024;
export const CHUNK_ORDINAL_MAX = 1_000_000_000;

interface Prepared {
  id: string;
  input: ResourceInput;
  uri: string;
  ordinal: number;
  vector?: Float32Array;
}

function prepare(store: TenantStore, input: ResourceInput, i: number): Prepared {
  if (input === null || typeof input !== 'object') throw invalid(`resources[${i}] must be an object`);
  const uri = checkText(input.uri, `resources[${i}].uri`, URI_CHARS_MAX);
  if (uri.length === 0) throw invalid(`resources[${i}].uri must not be empty`);
  checkText(input.content, `resources[${i}].content`, store.limits.contentCharsMax, { allowControl: true });
  if (input.name !== undefined) checkText(input.name, `resources[${i}].name`, NAME_CHARS_MAX);
  const ordinal = input.chunk_ordinal ?? 0;
  if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal > CHUNK_ORDINAL_MAX) {
    throw invalid(`resources[${i}].chunk_ordinal must be an integer in [0, ${CHUNK_ORDINAL_MAX}]`);
  }
  checkObject(input.metadata, `resources[${i}].metadata`);
  checkObject(input.source, `resources[${i}].source`);
  const p: Prepared = { id: resourceId(uri, ordinal), input, uri, ordinal };
  if (input.embedding !== undefined) p.vector = checkEmbedding(input.embedding, store.dimension, `resources[${i}].embedding`);
  return p;
}

/** Upserts resources; returns their ids in input order. Duplicate ids within one call: the last one wins. */
export async function putResources(store: TenantStore, inputs: readonly ResourceInput[]): Promise<string[]> {
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
  );
}

export async function deleteResource(store: TenantStore, id: string): Promise<boolean> {
  return deleteLocal(store, 'resources', id);
}

/** Secondary-index changes when a resource goes from `old` to `next` (either may be absent). */
export function resourceIndexOps(store: TenantStore, old: Resource | undefined, next: Resource | undefined): BatchOp[] {
  if (old && next) return [];
  if (next) return [{ type: 'put', sublevel: store.idx, key: resourceUriKey(next.uri, next.chunk_ordinal), value: next.id }];
  if (old) return [{ type: 'del', sublevel: store.idx, key: resourceUriKey(old.uri, old.chunk_ordinal) }];
  return [];
}

export interface ListResult<T> {
  items: T[];
  next_cursor: string | null;
}

/** Resources in (uri, chunk_ordinal) order, optionally under a uri prefix, with an opaque cursor. */
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
  const entries = await store.idx.iterator(range).all();
  const page = entries.slice(0, opts.limit);
  const records = await store.getMany<Resource>('resources', page.map(([, id]) => id));
  const items = records.filter((r): r is Resource => r !== undefined);
  const more = entries.length > opts.limit;
  return { items, next_cursor: more && page.length > 0 ? encodeCursor(page[page.length - 1]![0]) : null };
}

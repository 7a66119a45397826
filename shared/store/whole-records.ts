// Local writes of whole records (resources and moments, which a write replaces) and deletes of any kind, through
// the store's write path.
import { localPut } from '../rem/ops.js';
import type { Moment, RemKind, Resource } from '../rem/types.js';
import { checkWriteQuota, type Quotas } from './quota.js';
import type { TenantStore } from './tenant-store.js';

export interface WriteOptions {
  /** Refuse the write (429 quota_exceeded) when it would take the tenant past these quotas. */
  quota?: Quotas;
}

/**
 * Upserts whole records (resources, moments) written locally: within one call the last record for an id wins,
 * records without an explicit vector are embedded in one embedder call (before the write lock), and created/updated
 * times are stamped by the write path from the write's HLC. Returns the ids in input order.
 */
export async function putWholeRecords<K extends 'resources' | 'moments', P extends { id: string; vector?: Float32Array }>(
  store: TenantStore,
  kind: K,
  prepared: readonly P[],
  text: (p: P) => string,
  record: (p: P) => K extends 'resources' ? Resource : Moment,
  opts: WriteOptions = {},
): Promise<string[]> {
  if (opts.quota) await checkWriteQuota(store, opts.quota, kind, prepared.map((p) => p.id));
  const byId = new Map<string, P>();
  for (const p of prepared) byId.set(p.id, p);
  const unique = [...byId.values()];
  const toEmbed = unique.filter((p) => !p.vector);
  const vectors = await store.embedTexts(toEmbed.map(text));
  toEmbed.forEach((p, i) => (p.vector = vectors[i]));
  await store.writeLocal(() => unique.map((p) => localPut(kind, p.id, record(p), p.vector!)));
  return prepared.map((p) => p.id);
}

/** Deletes one record locally; false when it does not exist. */
export async function deleteLocal(store: TenantStore, kind: RemKind, id: string): Promise<boolean> {
  let existed = false;
  await store.writeLocal(async () => {
    existed = (await store.get(kind, id)) !== undefined;
    return existed ? [{ type: 'delete', kind, id }] : [];
  });
  return existed;
}

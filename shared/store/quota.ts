// Per-tenant quotas on a node: records held and bytes on disk. A write that would go over either is refused before
// anything of it is written, with the quota, its limit and the current usage. Bytes on disk come from walking the
// tenant's directory, so the figure is remembered for a few seconds (a tenant can overshoot by what it writes in
// that time, at most a few batches).
import { RemError } from '../rem/errors.js';
import type { RemKind } from '../rem/types.js';
import type { TenantStore } from './tenant-store.js';
import { versionKey } from './write-path.js';

export interface Quotas {
  recordsMax: number;
  diskBytesMax: number;
}

const DISK_USAGE_TTL_MS = 5_000;

function exceeded(quota: 'records' | 'disk_bytes', limit: number, usage: number, adding?: number): RemError {
  const what = quota === 'records' ? `${usage} records${adding !== undefined ? ` + ${adding} new` : ''}` : `${usage} bytes on disk`;
  return new RemError('quota_exceeded', `tenant quota ${quota} exceeded: ${what}, at most ${limit}`, { quota, limit, usage, ...(adding !== undefined ? { adding } : {}) });
}

/**
 * Refuses a write of `ids` (records of `kind`) that would take the tenant past a quota. Only ids the tenant does not
 * hold yet count as new (their versions are read, not the records).
 */
export async function checkWriteQuota(store: TenantStore, q: Quotas, kind: RemKind, ids: readonly string[]): Promise<void> {
  const held = store.count('resources') + store.count('entities') + store.count('moments');
  if (held + ids.length > q.recordsMax) {
    const unique = [...new Set(ids)];
    const versions = await store.readRaw(unique.map((id) => ['ver', versionKey(kind, id)] as const));
    const adding = versions.filter((v) => v === undefined).length;
    if (held + adding > q.recordsMax) throw exceeded('records', q.recordsMax, held, adding);
  }
  const bytes = await store.sizeOnDiskBytes(DISK_USAGE_TTL_MS);
  if (bytes >= q.diskBytesMax) throw exceeded('disk_bytes', q.diskBytesMax, bytes);
}

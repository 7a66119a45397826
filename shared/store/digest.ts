// A tenant digest: sha256 over every record's id and version (HLC, or the canonical CRDT state for entities) and
// every tombstone. Replicas that converged have equal digests, whatever order their ops arrived in.
import { createHash } from 'node:crypto';
import type { RemKind } from '../rem/types.js';
import { REM_KINDS } from '../rem/types.js';
import type { TenantStore } from './tenant-store.js';
import { canonicalEntityState, type EntityState } from '../rem/entity-crdt.js';

export interface TenantDigest {
  digest: string;
  counts: Record<RemKind, number> & { tombstones: number };
  hlc_max: string | null;
}

export async function tenantDigest(store: TenantStore): Promise<TenantDigest> {
  const h = createHash('sha256');
  for await (const [key, value] of store.iterator('ver')) {
    h.update('v\u0000' + key + '\u0000');
    h.update(typeof value === 'string' ? value : canonicalEntityState(value as EntityState));
    h.update('\n');
  }
  let tombstones = 0;
  for await (const [key, value] of store.iterator<string>('tomb')) {
    h.update('t\u0000' + key + '\u0000' + value + '\n');
    tombstones++;
  }
  const counts = Object.fromEntries(REM_KINDS.map((k) => [k, store.count(k)])) as Record<RemKind, number>;
  return { digest: h.digest('hex'), counts: { ...counts, tombstones }, hlc_max: store.hlcMax ?? null };
}

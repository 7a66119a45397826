// Object keys of a tenant: `tenants/<tenant>/` holds its uploads (`uploads/<job_id>/<safe filename>`) and its
// snapshots (shared/lifecycle/snapshot-store.ts). The client's file name is reduced to a safe base name.
import { assertTenantId } from '../rem/tenant-id.js';

const FILENAME_CHARS_MAX = 128;

/** The base name of `name` with only [A-Za-z0-9._-] (others become `_`), no leading dots, at most 128 chars. */
export function safeFilename(name: string | undefined): string {
  const base = (name ?? '').normalize('NFKC').split(/[\\/]/).pop() ?? '';
  let safe = base
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^[._]+/, '');
  if (safe.length > FILENAME_CHARS_MAX) {
    const dot = safe.lastIndexOf('.');
    const ext = dot > 0 && safe.length - dot <= 16 ? safe.slice(dot) : '';
    safe = safe.slice(0, FILENAME_CHARS_MAX - ext.length) + ext;
  }
  return safe || 'upload';
}

/** Everything of one tenant in object storage is under this prefix (uploads, snapshots): a purge removes it whole. */
export function tenantPrefix(tenant: string): string {
  assertTenantId(tenant);
  return `tenants/${tenant}/`;
}

export function uploadKey(tenant: string, jobId: string, filename: string): string {
  return `${tenantPrefix(tenant)}uploads/${jobId}/${safeFilename(filename)}`;
}

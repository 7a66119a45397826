// Outbox markers: an empty file `<markerDir>/<tenant>` exists while a tenant may hold unpublished ops, so a restarted
// node drains exactly those tenants without opening every tenant it has. The ops themselves live in the tenant's
// own LevelDB (`outbox` sublevel), written in the same batch as the write they describe.
import fs from 'node:fs/promises';
import path from 'node:path';
import { assertTenantId } from '../rem/tenant-id.js';

export async function markOutboxPending(markerDir: string, tenant: string): Promise<void> {
  assertTenantId(tenant);
  await fs.mkdir(markerDir, { recursive: true });
  await fs.writeFile(path.join(markerDir, tenant), '');
}

export async function clearOutboxPending(markerDir: string, tenant: string): Promise<void> {
  assertTenantId(tenant);
  await fs.rm(path.join(markerDir, tenant), { force: true });
}

export async function pendingOutboxTenants(markerDir: string): Promise<string[]> {
  try {
    return (await fs.readdir(markerDir)).filter((t) => /^[a-z0-9][a-z0-9_-]{0,62}$/.test(t));
  } catch {
    return [];
  }
}

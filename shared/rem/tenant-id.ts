// Tenant ids are checked here before they ever reach a filesystem path.
import path from 'node:path';
import { RemError } from './errors.js';

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isTenantId(tenant: unknown): tenant is string {
  return typeof tenant === 'string' && TENANT_ID_PATTERN.test(tenant);
}

export function assertTenantId(tenant: unknown): asserts tenant is string {
  if (!isTenantId(tenant)) {
    throw new RemError(
      'invalid_tenant',
      'tenant id must match ^[a-z0-9][a-z0-9_-]{0,62}$ (lowercase letters, digits, _ and -, at most 63 characters)',
    );
  }
}

/** The tenant's directory, guaranteed to sit inside `<dataDir>/tenants/`. */
export function tenantDir(dataDir: string, tenant: string): string {
  assertTenantId(tenant);
  const base = path.resolve(dataDir, 'tenants');
  const dir = path.resolve(base, tenant);
  if (path.dirname(dir) !== base) throw new RemError('invalid_tenant', 'tenant id resolves outside the data directory');
  return dir;
}

// The X-Tenant-ID header check every tenant-scoped HTTP route shares (database node and upload gateway).
import { TENANT_ID_PATTERN } from '../rem/tenant-id.js';
import { HttpError } from './errors.js';

/** The tenant named by the header value, or a 400 `missing_tenant` / `invalid_tenant`. */
export function tenantFromHeader(value: string | string[] | undefined): string {
  if (typeof value !== 'string' || value.length === 0) throw new HttpError(400, 'missing_tenant', 'the X-Tenant-ID header is required');
  if (!TENANT_ID_PATTERN.test(value)) throw new HttpError(400, 'invalid_tenant', 'X-Tenant-ID must match ^[a-z0-9][a-z0-9_-]{0,62}$');
  return value;
}

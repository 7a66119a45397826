// The access-control metrics every service exports: auth failures by reason, and requests refused by a rate limit
// or a quota, by kind.
import client from 'prom-client';

export interface AccessMetrics {
  authFailures: client.Counter<'reason'>;
  rateLimited: client.Counter<'kind'>;
}

export function createAccessMetrics(registry: client.Registry): AccessMetrics {
  return {
    authFailures: new client.Counter({
      name: 'percolate_auth_failures_total',
      help: 'Requests refused by access control, by reason (token_missing, token_expired, token_signature, ..., tenant_forbidden, scope_forbidden)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rateLimited: new client.Counter({
      name: 'percolate_rate_limited_total',
      help: 'Requests refused with 429, by kind: read, write (rate limits), quota_records, quota_disk_bytes, quota_uploads_in_flight, quota_upload_bytes_per_day',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

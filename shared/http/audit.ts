// Audit lines: one structured log line per security-relevant event (an auth failure and its reason, a schema
// change, a delete, ops applied from a peer, a quota or rate refusal), marked `audit: true` so a log pipeline can
// route them apart. They name the tenant, the token's subject and the route, never a token or key material.

export interface AuditLog {
  info(fields: object, msg: string): void;
}

export type AuditEvent = 'auth_failure' | 'schema_put' | 'schema_delete' | 'record_delete' | 'sync_applied' | 'quota_exceeded' | 'rate_limited' | 'tenant_operation' | 'tenant_purge';

export function audit(log: AuditLog, event: AuditEvent, fields: Record<string, unknown>): void {
  log.info({ audit: true, event, ...fields }, `audit: ${event}`);
}

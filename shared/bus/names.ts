// Every NATS subject, stream, consumer and bucket name the system uses, in one place.

/** Replication: one subject per tenant, one stream for all of them (limits retention: every node reads every op). */
export const SYNC_STREAM = 'PERCOLATE_SYNC';
export const SYNC_SUBJECT_ALL = 'percolate.sync.>';
const SYNC_PREFIX = 'percolate.sync.';
export const syncSubject = (tenant: string) => `${SYNC_PREFIX}${tenant}`;
/** The tenant a sync subject names (unchecked); undefined for another subject. */
export const tenantOfSyncSubject = (subject: string): string | undefined => (subject.startsWith(SYNC_PREFIX) ? subject.slice(SYNC_PREFIX.length) : undefined);
export const syncConsumer = (nodeId: string) => `node-${nodeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** File-processing jobs, one subject per tier; failed jobs go to the tier's dead-letter subject. */
export const JOBS_STREAM = 'PERCOLATE_JOBS';
export const JOBS_SUBJECT_ALL = 'percolate.jobs.>';
export const jobSubject = (tier: string) => `percolate.jobs.${tier}`;
export const DLQ_STREAM = 'PERCOLATE_DLQ';
export const DLQ_SUBJECT_ALL = 'percolate.dlq.>';
export const dlqSubject = (tier: string) => `percolate.dlq.${tier}`;
export const workerConsumer = (tier: string) => `workers-${tier}`;

/** Job state (JetStream KV). */
export const JOBS_BUCKET = 'percolate_jobs';

/** Durable tenant operations (snapshot, offload, restore, ...): one JetStream KV entry per operation, keyed by id. */
export const OPERATIONS_BUCKET = 'percolate_operations';

/** Tenant tombstones: one JetStream KV entry per purged tenant, holding the purge's HLC (every node watches it). */
export const PURGES_BUCKET = 'percolate_tenant_purges';

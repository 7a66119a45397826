// Engine errors carry a stable machine-readable code; the HTTP layer maps codes to status codes.

export type RemErrorCode =
  | 'invalid_request'
  | 'invalid_tenant'
  | 'tenant_not_found'
  | 'not_found'
  | 'invalid_embedding'
  | 'embedder_mismatch'
  | 'batch_too_large'
  | 'limit_exceeded'
  | 'conflict'
  | 'schema_violation'
  /** An edge to a bare entity id that names no entity (details.path names the edge). */
  | 'edge_target_not_found'
  | 'invalid_query'
  /** A replicated op (POST /sync, or from a peer) that breaks the rules a write must satisfy. */
  | 'invalid_op'
  /** The configured language model answered an error (provider_error) or could not be reached (provider_unavailable). */
  | 'provider_error'
  | 'provider_unavailable'
  /** The model refused the request itself (its 400, 413 or 422: context length exceeded, a bad tool schema). */
  | 'provider_rejected'
  /** The model's rate limit (its 429): retry after details.retry_after_s. */
  | 'provider_rate_limited'
  /** The model did not answer within PERCOLATE_LLM_TIMEOUT_MS (or answered 408/504). */
  | 'provider_timeout'
  /** A bounded queue of the engine is full (writers waiting for a tenant's write lock): retry later. */
  | 'overloaded'
  /** The tenant's data could not be brought to this node now (a snapshot download or the stream catch-up failed):
   * retry later (details.retry_after_s); never answered with an empty tenant. */
  | 'tenant_unavailable'
  /** A per-tenant quota (records, bytes on disk, uploads) would be exceeded; details name it, its limit and the usage. */
  | 'quota_exceeded';

export class RemError extends Error {
  constructor(
    readonly code: RemErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'RemError';
  }
}

export function invalid(message: string, details?: unknown): RemError {
  return new RemError('invalid_request', message, details);
}

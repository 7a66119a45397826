// Decoding one op message of the sync stream, shared by the durable applier and the per-tenant replay of a restore:
// the nesting bound is checked on the text before it is parsed, and anything that is not an object naming a tenant
// is refused with the reason it is counted under.
import { jsonTextDepth } from '../rem/json-guard.js';
import { isTenantId } from '../rem/tenant-id.js';

export type DecodedOp = { raw: { node?: unknown; tenant: string } & Record<string, unknown> } | { refused: 'malformed'; message: string };

export function decodeOpMessage(text: string, jsonDepthMax: number): DecodedOp {
  // + 3: the op, its mutations and the mutation wrap a record that may nest as deep as a request body
  if (jsonTextDepth(text, jsonDepthMax + 3) > jsonDepthMax + 3) return { refused: 'malformed', message: `op nests deeper than the JSON depth bound (${jsonDepthMax})` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { refused: 'malformed', message: 'op is not JSON' };
  }
  if (!raw || typeof raw !== 'object' || typeof (raw as { tenant?: unknown }).tenant !== 'string') return { refused: 'malformed', message: 'op has no tenant' };
  if (!isTenantId((raw as { tenant: string }).tenant)) return { refused: 'malformed', message: 'op names an invalid tenant id' };
  return { raw: raw as { node?: unknown; tenant: string } & Record<string, unknown> };
}

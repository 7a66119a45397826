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

/** Ops are written with these fields first (rem/ops.ts, the schema registry); the origin is read off that prefix. */
const ORIGIN = /^\{"v":1,"op_id":"[^"\\]{1,200}","tenant":"[^"\\]{1,200}","node":"([^"\\]{1,200})"/;
const PREFIX_BYTES = 700;
const utf8 = new TextDecoder();

/**
 * The node an op message says it comes from, read off the start of its bytes without decoding or parsing the rest;
 * undefined when the message does not start the way ops are written. A node's consumer delivers its own ops too (one
 * subject per tenant, not per node): at 1,000 writes/s, decoding them only to drop them cost the writing node a few
 * per cent of its CPU. What it claims is trusted no more than the parsed field would be: either way a message that
 * names this node is not applied here.
 */
export function originOf(data: Uint8Array): string | undefined {
  return ORIGIN.exec(utf8.decode(data.subarray(0, PREFIX_BYTES)))?.[1];
}

// Deterministic record ids: the same logical record always gets the same id, so every write is an idempotent upsert
// and a redelivered job or replayed op changes nothing.
import crypto from 'node:crypto';
import { normalizeKey } from './text.js';

// The one-shot crypto.hash (Node >= 20.12) takes a third of createHash().update().digest()'s time: 0.5 against 1.4 µs
// for an id, which every record of a write and of a replicated op pays at least once (the id is checked).
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** 32 hex chars (128 bits) of sha256 over the parts, unit-separator joined so ('ab','c') != ('a','bc'). */
export function hashId(...parts: readonly string[]): string {
  return sha256Hex(parts.join('\u001f')).slice(0, 32);
}

export function resourceId(uri: string, chunkOrdinal: number): string {
  return hashId('resource', uri, String(chunkOrdinal));
}

export function entityId(type: string, key: string): string {
  return hashId('entity', normalizeKey(type), normalizeKey(key));
}

/** An explicit moment id wins; otherwise name (or summary) plus the start time identify the moment. */
export function momentId(input: { id?: string; name?: string; summary: string; start_time: string }): string {
  if (input.id) return hashId('moment', 'id', input.id);
  return hashId('moment', input.name ?? input.summary, new Date(input.start_time).toISOString());
}

export const ID_PATTERN = /^[0-9a-f]{32}$/;

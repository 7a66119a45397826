// Field paths of each kind as the dialect sees them: which top-level fields exist, which ones hold free-form maps
// (metadata, properties, source) that paths may descend into, and which ones are timestamps (compared as instants).
import type { RemKind } from '../rem/types.js';
import type { FieldRef } from './ast.js';
import { queryError } from './lexer.js';

const MAPS: Record<RemKind, readonly string[]> = {
  resources: ['metadata', 'source'],
  entities: ['properties'],
  moments: ['metadata'],
};

const SCALARS: Record<RemKind, readonly string[]> = {
  resources: ['id', 'uri', 'name', 'content', 'chunk_ordinal', 'created_at', 'updated_at'],
  entities: ['id', 'type', 'key', 'name', 'aliases', 'edges', 'created_at', 'updated_at'],
  moments: ['id', 'name', 'summary', 'moment_type', 'start_time', 'end_time', 'tags', 'people', 'resource_ids', 'entity_ids', 'created_at', 'updated_at'],
};

export const TIME_FIELDS: ReadonlySet<string> = new Set(['created_at', 'updated_at', 'start_time', 'end_time']);

/** Checks that `f` names a field of `kind` (maps may be descended into with dots); throws invalid_query otherwise. */
export function checkField(kind: RemKind, f: FieldRef): void {
  const [head, ...rest] = f.path as [string, ...string[]];
  if (MAPS[kind].includes(head)) return;
  if (SCALARS[kind].includes(head)) {
    if (rest.length > 0) throw queryError(f.pos, `field '${head}' of ${kind} has no sub-fields`);
    return;
  }
  const hint = kind === 'entities' ? ` (entity attributes live under properties: properties.${f.text})` : MAPS[kind].length ? ` (free-form fields live under ${MAPS[kind][0]}: ${MAPS[kind][0]}.${f.text})` : '';
  throw queryError(f.pos, `unknown field '${f.text}' of ${kind}${hint}; fields: ${[...SCALARS[kind], ...MAPS[kind]].join(', ')}`, {
    expected: [...SCALARS[kind], ...MAPS[kind]],
    found: f.text,
  });
}

/** True when the field holds an RFC 3339 timestamp (compared as an instant, not as text). */
export function isTimeField(f: FieldRef): boolean {
  return f.path.length === 1 && TIME_FIELDS.has(f.path[0]!);
}

/**
 * The value at a path; arrays along the way are not descended (a path names one value). Only own properties count:
 * `properties.constructor` or `properties.__proto__` name a key the record holds, never what objects inherit.
 */
export function getPath(record: unknown, path: readonly string[]): unknown {
  let v: unknown = record;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

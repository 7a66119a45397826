// The text of each kind of record that the keyword index and the embedder see.
import type { Entity, Moment, RemKind, RemRecord, Resource } from './types.js';

export function resourceText(r: Pick<Resource, 'name' | 'content'>): string {
  return r.name ? `${r.name}\n${r.content}` : r.content;
}

export function entityText(e: Pick<Entity, 'type' | 'key' | 'name' | 'aliases' | 'properties'>): string {
  const props: string[] = [];
  for (const [k, v] of Object.entries(e.properties)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') props.push(`${k} ${v}`);
  }
  const name = e.name && e.name !== e.key ? `${e.name} ${e.key}` : e.key;
  return [name, ...e.aliases, e.type, ...props].join('\n');
}

export function momentText(m: Pick<Moment, 'name' | 'summary' | 'tags' | 'people'>): string {
  return [m.name, m.summary, m.tags.join(' '), m.people.join(' ')].filter(Boolean).join('\n');
}

export function recordText(kind: RemKind, r: RemRecord): string {
  if (kind === 'resources') return resourceText(r as Resource);
  if (kind === 'entities') return entityText(r as Entity);
  return momentText(r as Moment);
}

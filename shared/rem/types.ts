// REM record shapes as stored and returned. Inputs are validated by the HTTP schemas and by rem/validate.ts.

export type Metadata = Record<string, unknown>;
export type RemKind = 'resources' | 'entities' | 'moments';
export const REM_KINDS: readonly RemKind[] = ['resources', 'entities', 'moments'];

export interface Resource {
  id: string;
  uri: string;
  name: string;
  content: string;
  chunk_ordinal: number;
  metadata: Metadata;
  source?: Metadata;
  created_at: string;
  updated_at: string;
}

export interface ResourceInput {
  uri: string;
  content: string;
  name?: string;
  chunk_ordinal?: number;
  metadata?: Metadata;
  source?: Metadata;
  embedding?: number[];
}

export interface Edge {
  rel: string;
  /** Target entity id. */
  to: string;
  properties: Metadata;
  weight: number;
  /** Time of the edge's last write. */
  updated_at: string;
}

export interface Entity {
  id: string;
  type: string;
  key: string;
  name: string;
  aliases: string[];
  properties: Metadata;
  edges: Edge[];
  created_at: string;
  updated_at: string;
}

export type EntityRef = string | { type: string; key: string };

export interface EdgeInput {
  rel: string;
  to: EntityRef;
  properties?: Metadata;
  weight?: number;
}

export interface EntityInput {
  type: string;
  key: string;
  name?: string;
  aliases?: string[];
  /** Merged field by field; a null value removes the field. */
  properties?: Record<string, unknown>;
  edges?: EdgeInput[];
  edges_remove?: { rel: string; to: EntityRef }[];
  embedding?: number[];
}

export interface Moment {
  id: string;
  name: string;
  summary: string;
  moment_type: string;
  start_time: string;
  end_time: string | null;
  tags: string[];
  people: string[];
  resource_ids: string[];
  entity_ids: string[];
  metadata: Metadata;
  created_at: string;
  updated_at: string;
}

export interface MomentInput {
  id?: string;
  name?: string;
  summary: string;
  moment_type?: string;
  start_time: string;
  end_time?: string;
  tags?: string[];
  people?: string[];
  resource_ids?: string[];
  entity_ids?: string[];
  metadata?: Metadata;
  embedding?: number[];
}

export type RemRecord = Resource | Entity | Moment;

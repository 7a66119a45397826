// Schema registry of one tenant: a JSON Schema per entity type for the entity's `properties`, plus the property that
// carries the natural key (`key_field`), properties with secondary indexes (`indexed_fields`) and the properties that
// make up the embedded text (`embedding_fields`). Definitions live in the tenant's `meta` sublevel (`schema:<type>`),
// are loaded when the store opens, and act on every entity write through the store's EntityWriteHook:
//   check     rejects a merged entity that violates its type's schema (422 schema_violation, failing paths in details)
//   indexOps  moves the entity's secondary-index entries (`sidx \0 type \0 field \0 value \0 id`, see keys.ts)
// Adding or replacing a schema rebuilds that type's indexes from the stored entities; deleting it drops them. Both
// happen under the store's write lock, so no entity write interleaves with a rebuild.
//
// No schema may make validation slow: `pattern` and `patternProperties` run on RE2 (re2js, linear time; a pattern
// RE2 cannot run, with backreferences or lookaround, refuses the schema), and `uniqueItems` is accepted only next to
// a `maxItems` of at most store.limits.schemaUniqueItemsMax (and checks in linear time, skipping arrays over maxItems,
// which maxItems reports).
import AjvDraft7 from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { AnySchemaObject, ErrorObject, KeywordDefinition, ValidateFunction } from 'ajv';
import type { DataValidateFunction, RegExpEngine } from 'ajv/dist/types/index.js';
import { RE2JS } from 're2js';
import { TimeSlice } from '../rem/time-slice.js';
import { RemError, invalid } from '../rem/errors.js';
import { normalizeKey } from '../rem/text.js';
import type { Entity } from '../rem/types.js';
import type { KeyRange, KeySpace, SpaceOp } from '../rem/codec.js';
import { encodeIndexValue, entityKeyKey, prefixEnd, schemaIndexKey, schemaIndexTypePrefix, schemaVersionKey } from './keys.js';
import type { Mutex } from './mutex.js';
import type { EntityWriteHook, ReadKey, RecordChange, StoreLimits } from './store-types.js';
import { hlcIso, type HybridLogicalClock } from '../rem/hlc.js';
import type { Op, SchemaDefinition, SchemaMutation, SchemaOp } from '../rem/ops.js';

/** What the registry needs of its tenant store (the store implements it; the registry does not import the store). */
export interface SchemaHost {
  readonly tenant: string;
  readonly nodeId: string;
  readonly clock: HybridLogicalClock;
  readonly limits: StoreLimits;
  readonly writeLock: Mutex;
  /** Values of versions and tombstones (raw strings). */
  readRaw(keys: readonly ReadKey[]): Promise<(string | undefined)[]>;
  /** Commits key-space ops with the tenant's highest HLC and outbox ops in one batch (the caller holds the write lock). */
  commit(changes: readonly RecordChange[], extra: readonly SpaceOp[], repl: { hlcMax?: string; outbox?: readonly Op[] }): Promise<void>;
  getMany<T>(kind: 'entities', ids: readonly string[]): Promise<(T | undefined)[]>;
  iterator<V = unknown>(space: KeySpace, range?: KeyRange): AsyncIterable<[string, V]>;
  values<V = unknown>(space: KeySpace, range?: KeyRange): { nextv(size: number): Promise<V[]>; close(): Promise<void> };
  /** Writes key-space ops in one batch (the caller holds the write lock). */
  writeKeys(ops: readonly SpaceOp[]): Promise<void>;
  /** Deletes a range of a key space (the caller holds the write lock). */
  clearKeys(space: KeySpace, range: KeyRange): Promise<void>;
}

export interface SchemaInput {
  schema: Record<string, unknown>;
  key_field?: string;
  indexed_fields?: string[];
  embedding_fields?: string[];
}

/** A stored definition (`type` as first written; the registry is keyed by its normalised form). */
export type EntitySchema = SchemaDefinition;

export interface Violation {
  /** JSON pointer into the entity: `/properties/age`. */
  path: string;
  message: string;
  keyword: string;
}

export interface PutSchemaResult {
  schema: EntitySchema;
  /** Existing entities of the type whose index entries were built. */
  indexed: number;
  /** Existing entities that violate the new schema (they stay; their next write must conform). */
  violations: number;
  violation_samples: { id: string; key: string; errors: Violation[] }[];
}

/** Property paths usable in indexes and queries: `age`, `address.city`. */
export const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,7}$/;
export const INDEXED_FIELDS_MAX = 32;
const SCHEMA_CHARS_MAX = 100_000;
const META_PREFIX = 'schema:';
const BACKFILL_BATCH = 1000;

interface Loaded {
  def: EntitySchema;
  validate: ValidateFunction;
  fields: { name: string; path: string[] }[];
}

/** The property at a path (own keys only: `constructor` is a property name, not what objects inherit). */
function propertyValue(e: Entity, path: readonly string[]): unknown {
  let v: unknown = e.properties;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** Why RE2 cannot run a JSON Schema pattern (JavaScript syntax), or undefined when it can. */
function re2Problem(source: string): string | undefined {
  try {
    RE2JS.compile(RE2JS.translateRegExp(source));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * ajv's regular-expression engine: RE2 in linear time, searching anywhere in the string as `pattern` does. With
 * `lenient`, a pattern RE2 cannot run never matches (definitions stored before patterns were checked still load;
 * their next PUT is refused until the pattern is replaced); otherwise it throws.
 */
function re2Engine(lenient: boolean): RegExpEngine {
  const engine = (source: string) => {
    let re: RE2JS | undefined;
    try {
      re = RE2JS.compile(RE2JS.translateRegExp(source));
    } catch (err) {
      if (!lenient) throw new Error(`pattern '${source}' is not supported (${(err as Error).message})`);
    }
    // ajv shares compiled patterns by their toString
    return { test: (s: string) => re !== undefined && re.test(s), toString: () => `re2:${lenient ? 'lenient:' : ''}${source}` };
  };
  return Object.assign(engine, { code: 'percolateRe2' });
}

/** JSON text of a value with object keys sorted: equal for deeply equal JSON values (what uniqueItems compares). */
function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/**
 * `uniqueItems` in linear time (ajv's compares every pair of items that are not all scalars, and with allErrors it does
 * so even for an array over maxItems). An array longer than its schema's maxItems is left to maxItems.
 */
const UNIQUE_ITEMS: KeywordDefinition = {
  keyword: 'uniqueItems',
  type: 'array',
  schemaType: 'boolean',
  errors: true,
  compile(schema: boolean, parentSchema: AnySchemaObject): DataValidateFunction {
    const max = typeof parentSchema.maxItems === 'number' ? parentSchema.maxItems : Infinity;
    const validate: DataValidateFunction = (data: unknown) => {
      validate.errors = [];
      if (!schema || !Array.isArray(data) || data.length > max) return true;
      const first = new Map<string, number>();
      for (let i = 0; i < data.length; i++) {
        const key = canonicalJson(data[i]);
        const j = first.get(key);
        if (j !== undefined) {
          validate.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i, j } }];
          return false;
        }
        first.set(key, i);
      }
      return true;
    };
    return validate;
  },
};

/** Keywords whose value is a subschema or a list of them (draft-07 and 2020-12). */
const SUBSCHEMA = new Set([
  'items', 'additionalItems', 'prefixItems', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else',
  'allOf', 'anyOf', 'oneOf', 'unevaluatedItems', 'unevaluatedProperties',
]);
/** Keywords whose value maps names (or patterns) to subschemas. */
const SUBSCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies']);

const pointer = (path: readonly string[]) => path.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/**
 * Refuses (400 invalid_request, naming the place in the schema) what would make validation slow: a `pattern` or
 * `patternProperties` key RE2 cannot run, and `uniqueItems` without a `maxItems` of at most `uniqueItemsMax`.
 */
export function checkSchemaCost(schema: unknown, uniqueItemsMax: number, path: string[] = []): void {
  if (Array.isArray(schema)) {
    schema.forEach((s, i) => checkSchemaCost(s, uniqueItemsMax, [...path, String(i)]));
    return;
  }
  if (schema === null || typeof schema !== 'object') return;
  const node = schema as Record<string, unknown>;
  const refusePattern = (source: string, at: string[]) => {
    const problem = re2Problem(source);
    if (problem !== undefined) {
      throw invalid(
        `schema pattern '${source}' at ${pointer(at)} is not supported: patterns run in linear time (RE2), without backreferences or lookaround (${problem})`,
      );
    }
  };
  if (Object.hasOwn(node, 'pattern') && typeof node.pattern === 'string') refusePattern(node.pattern, [...path, 'pattern']);
  if (node.uniqueItems === true) {
    const max = node.maxItems;
    if (typeof max !== 'number' || max > uniqueItemsMax) {
      throw invalid(`schema uniqueItems at ${pointer([...path, 'uniqueItems'])} needs maxItems of at most ${uniqueItemsMax} beside it`);
    }
  }
  for (const [k, v] of Object.entries(node)) {
    if (SUBSCHEMA.has(k)) checkSchemaCost(v, uniqueItemsMax, [...path, k]);
    else if (SUBSCHEMA_MAPS.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [name, sub] of Object.entries(v as Record<string, unknown>)) {
        if (k === 'patternProperties') refusePattern(name, [...path, k, name]);
        checkSchemaCost(sub, uniqueItemsMax, [...path, k, name]);
      }
    }
  }
}

function toViolations(errors: readonly ErrorObject[] | null | undefined): Violation[] {
  return (errors ?? []).map((e) => {
    let path = `/properties${e.instancePath}`;
    const p = e.params as { missingProperty?: string; additionalProperty?: string; propertyName?: string };
    const child = p.missingProperty ?? p.additionalProperty ?? (e.keyword === 'propertyNames' ? p.propertyName : undefined);
    if (child !== undefined) path += `/${child.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    return { path, message: e.message ?? 'is invalid', keyword: e.keyword };
  });
}

type Validator = InstanceType<typeof AjvDraft7.default> | InstanceType<typeof Ajv2020.default>;

const isDraft2020 = (def: SchemaDefinition) => /2020-12|2019-09/.test(String(def.schema.$schema ?? ''));

/**
 * The validator for a definition's draft from `cache`, created on first use (compiling the format vocabulary costs
 * milliseconds); a lenient one only for stored definitions whose patterns RE2 cannot run.
 */
function validatorIn(cache: Map<string, Validator>, def: SchemaDefinition, lenient: boolean): Validator {
  const name = `${isDraft2020(def) ? '2020' : '7'}${lenient ? ':lenient' : ''}`;
  let ajv = cache.get(name);
  if (!ajv) {
    const opts = { allErrors: true, strict: false, addUsedSchema: false, code: { regExp: re2Engine(lenient) } };
    ajv = addFormats.default(isDraft2020(def) ? new Ajv2020.default(opts) : new AjvDraft7.default(opts));
    ajv.removeKeyword('uniqueItems');
    ajv.addKeyword(UNIQUE_ITEMS);
    cache.set(name, ajv);
  }
  return ajv;
}

function compileSchema(ajv: Validator, def: SchemaDefinition): ValidateFunction {
  try {
    return ajv.compile(def.schema);
  } catch (err) {
    throw invalid(`schema is not a valid JSON Schema: ${(err as Error).message}`);
  }
}

/** Validators that only check replicated definitions (one per draft, shared by the node's tenants). */
const checkers = new Map<string, Validator>();

/**
 * Checks a schema definition that arrived from a peer as PUT /schemas checks one (field paths, limits, pattern and
 * uniqueItems cost, a JSON Schema that compiles): a hostile peer cannot install what the route would refuse.
 */
export function checkSchemaDefinition(def: SchemaDefinition, uniqueItemsMax: number): void {
  SchemaRegistry.checkInput(def.type, { ...def, key_field: def.key_field ?? undefined }, uniqueItemsMax);
  const ajv = validatorIn(checkers, def, false);
  compileSchema(ajv, def);
  // compiled schemas are cached by the validator: a check must not keep one per op
  ajv.removeSchema(def.schema);
}

export class SchemaRegistry implements EntityWriteHook {
  private readonly byType = new Map<string, Loaded>();
  private ajv = new Map<string, Validator>();

  constructor(private readonly store: SchemaHost) {}

  /** Loads the stored definitions (when the store opens). */
  async load(): Promise<void> {
    for await (const [key, def] of this.store.iterator('meta', { gte: META_PREFIX, lt: prefixEnd(META_PREFIX) })) {
      this.byType.set(key.slice(META_PREFIX.length), this.compile(def as EntitySchema, true));
    }
  }

  private compile(def: EntitySchema, lenient = false): Loaded {
    // one validator instance per tenant and draft (validatorIn)
    return { def, validate: compileSchema(validatorIn(this.ajv, def, lenient), def), fields: def.indexed_fields.map((name) => ({ name, path: name.split('.') })) };
  }

  get(type: string): EntitySchema | undefined {
    return this.byType.get(normalizeKey(type))?.def;
  }

  list(): EntitySchema[] {
    return [...this.byType.values()].map((l) => l.def).sort((a, b) => (a.type < b.type ? -1 : 1));
  }

  /** True when entities of `type` have a secondary index on property path `field` (dotted). */
  hasIndex(type: string, field: string): boolean {
    return this.byType.get(normalizeKey(type))?.def.indexed_fields.includes(field) ?? false;
  }

  /** Violations of the entity against its type's schema (empty when it conforms or its type has none). */
  violations(e: Entity): Violation[] {
    const l = this.byType.get(normalizeKey(e.type));
    if (!l) return [];
    const out = l.validate(e.properties) ? [] : toViolations(l.validate.errors);
    const kf = l.def.key_field;
    if (kf !== null) {
      const v = propertyValue(e, kf.split('.'));
      if (v !== undefined && (typeof v !== 'string' || normalizeKey(v) !== normalizeKey(e.key))) {
        out.push({ path: `/properties/${kf.split('.').join('/')}`, message: `must equal the entity key '${e.key}' (key_field)`, keyword: 'key_field' });
      }
    }
    return out;
  }

  check(next: Entity): void {
    const errors = this.violations(next);
    if (errors.length === 0) return;
    const first = errors[0]!;
    throw new RemError(
      'schema_violation',
      `entity ${next.type}/${next.key} violates the schema of type '${this.get(next.type)!.type}': ${first.path} ${first.message}` +
        (errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''),
      errors,
    );
  }

  private indexKeys(e: Entity, l: Loaded | undefined): Set<string> {
    const out = new Set<string>();
    if (!l) return out;
    const type = normalizeKey(e.type);
    for (const f of l.fields) {
      const v = propertyValue(e, f.path);
      for (const x of Array.isArray(v) ? v : [v]) {
        const enc = encodeIndexValue(x);
        if (enc !== undefined) out.add(schemaIndexKey(type, f.name, enc, e.id));
      }
    }
    return out;
  }

  /**
   * With `embedding_fields`, an entity of the type is embedded from its name, type and those properties only (not
   * from every property), so that its vector is about what the schema says matters.
   */
  embedText(e: Entity): string | undefined {
    const fields = this.byType.get(normalizeKey(e.type))?.def.embedding_fields;
    if (!fields || fields.length === 0) return undefined;
    const lines = [e.name && e.name !== e.key ? `${e.name} ${e.key}` : e.key, ...e.aliases, e.type];
    for (const f of fields) {
      const v = propertyValue(e, f.split('.'));
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') lines.push(`${f} ${v}`);
      else if (Array.isArray(v)) lines.push(`${f} ${v.filter((x) => typeof x !== 'object').join(' ')}`);
    }
    return lines.join('\n');
  }

  indexOps(old: Entity | undefined, next: Entity | null): SpaceOp[] {
    const before = old ? this.indexKeys(old, this.byType.get(normalizeKey(old.type))) : new Set<string>();
    const after = next ? this.indexKeys(next, this.byType.get(normalizeKey(next.type))) : new Set<string>();
    const ops: SpaceOp[] = [];
    for (const k of before) if (!after.has(k)) ops.push({ type: 'del', space: 'idx', key: k });
    for (const k of after) if (!before.has(k)) ops.push({ type: 'put', space: 'idx', key: k, value: next!.id });
    return ops;
  }

  /** Validates a definition's shape (the HTTP schema checks types; this holds for in-process callers too). */
  static checkInput(type: string, input: SchemaInput, uniqueItemsMax: number): void {
    if (!normalizeKey(type)) throw invalid('type must not be blank');
    if (input.schema === null || typeof input.schema !== 'object' || Array.isArray(input.schema)) throw invalid('schema must be a JSON Schema object');
    if (JSON.stringify(input.schema).length > SCHEMA_CHARS_MAX) throw new RemError('limit_exceeded', `schema exceeds ${SCHEMA_CHARS_MAX} characters`);
    checkSchemaCost(input.schema, uniqueItemsMax);
    const fields = [...(input.indexed_fields ?? []), ...(input.embedding_fields ?? []), ...(input.key_field !== undefined ? [input.key_field] : [])];
    for (const f of fields) if (typeof f !== 'string' || !FIELD_PATH.test(f)) throw invalid(`field '${String(f)}' must be a property path like age or address.city`);
    if ((input.indexed_fields ?? []).length > INDEXED_FIELDS_MAX) throw new RemError('limit_exceeded', `at most ${INDEXED_FIELDS_MAX} indexed_fields`);
  }

  /**
   * Adds or replaces the schema of `type` and rebuilds its secondary indexes from the stored entities of the type.
   * A local write: stamped with the node's clock, and its op (the whole definition) goes to the outbox with the last
   * batch, so every replica installs the same definition (see applyReplicated).
   */
  async put(type: string, input: SchemaInput): Promise<PutSchemaResult> {
    SchemaRegistry.checkInput(type, input, this.store.limits.schemaUniqueItemsMax);
    const ntype = normalizeKey(type);
    return this.store.writeLock.run(async () => {
      const hlc = this.store.clock.now();
      const now = hlcIso(hlc);
      const prev = this.byType.get(ntype)?.def;
      const def: EntitySchema = {
        type: prev?.type ?? type,
        schema: input.schema,
        key_field: input.key_field ?? null,
        indexed_fields: [...new Set(input.indexed_fields ?? [])],
        embedding_fields: [...new Set(input.embedding_fields ?? [])],
        created_at: prev?.created_at ?? now,
        updated_at: now,
      };
      const loaded = this.compile(def);
      return this.install(ntype, loaded, hlc, this.localOp(hlc, { type: 'put', kind: 'schemas', id: ntype, definition: def }));
    });
  }

  /** Removes the schema of `type` and its indexes (a local write, replicated like put); false when there was none. */
  async delete(type: string): Promise<boolean> {
    const ntype = normalizeKey(type);
    return this.store.writeLock.run(async () => {
      if (!this.byType.has(ntype)) return false;
      const hlc = this.store.clock.now();
      await this.remove(ntype, hlc, this.localOp(hlc, { type: 'delete', kind: 'schemas', id: ntype }));
      return true;
    });
  }

  /**
   * Applies a replicated schema op: last writer wins per type by HLC against the type's version and tombstone (as
   * for a resource), so any order of the same ops leaves every replica with the same definition and the same
   * indexes. Replicas do not validate entities against it (the node that takes a write does): it only gives them
   * the indexes, the embedded fields and the rules for their own local writes. Takes the write lock.
   */
  async applyReplicated(op: SchemaOp): Promise<{ applied: number; skipped: number; conflicts?: { schemas: number } }> {
    const m = op.mutations[0]!;
    const hlc = op.hlc;
    const result = await this.store.writeLock.run(async () => {
      const vkey = schemaVersionKey(m.id);
      const [ver, tomb] = await this.store.readRaw([['ver', vkey], ['tomb', vkey]]);
      const version = ver === undefined ? undefined : (JSON.parse(ver) as string);
      const stale = m.type === 'put' ? (version !== undefined && version >= hlc) || (tomb !== undefined && tomb >= hlc) : (version !== undefined && version > hlc) || (tomb !== undefined && tomb >= hlc);
      if (stale) {
        // an equal version is this op again; a newer version or tombstone won against it
        const newer = (version !== undefined && version > hlc) || (tomb !== undefined && tomb > hlc);
        return { applied: 0, skipped: 1, ...(newer ? { conflicts: { schemas: 1 } } : {}) };
      }
      if (m.type === 'put') await this.install(m.id, this.compile(m.definition, true), hlc, undefined);
      else await this.remove(m.id, hlc, undefined);
      return { applied: 1, skipped: 0 };
    });
    // later local writes must be stamped after everything this node has seen
    this.store.clock.observe(hlc);
    return result;
  }

  private localOp(hlc: string, mutation: SchemaMutation): SchemaOp {
    return { v: 1, op_id: `${hlc}#0`, tenant: this.store.tenant, node: this.store.nodeId, hlc, mutations: [mutation] };
  }

  /**
   * Installs a definition at version `hlc` and rebuilds the type's indexes. The old definition is removed first and
   * the new one written with the last index batch (with its version and, for a local write, its op), so a crash in
   * between leaves no definition whose index is incomplete (the planner only uses indexes of stored definitions).
   * The caller holds the write lock.
   */
  private async install(ntype: string, loaded: Loaded, hlc: string, op: SchemaOp | undefined): Promise<PutSchemaResult> {
    const def = loaded.def;
    await this.store.writeKeys([{ type: 'del', space: 'meta', key: META_PREFIX + ntype }]);
    this.byType.delete(ntype);
    await this.clearIndex(ntype);
    const result: PutSchemaResult = { schema: def, indexed: 0, violations: 0, violation_samples: [] };
    let ops: SpaceOp[] = [];
    const typePrefix = entityKeyKey(ntype, '');
    const ids = this.store.values<string>('idx', { gte: typePrefix, lt: prefixEnd(typePrefix) });
    // the backfill holds this tenant's write lock, not the node: it gives the event loop a turn every few ms
    const slice = new TimeSlice();
    try {
      for (;;) {
        const chunk = await ids.nextv(BACKFILL_BATCH);
        if (chunk.length === 0) break;
        for (const e of await this.store.getMany<Entity>('entities', chunk)) {
          if (slice.due()) await slice.pause();
          if (!e) continue;
          result.indexed++;
          for (const k of this.indexKeys(e, loaded)) ops.push({ type: 'put', space: 'idx', key: k, value: e.id });
          const errors = loaded.validate(e.properties) ? [] : toViolations(loaded.validate.errors);
          if (errors.length > 0 && result.violations++ < 10) result.violation_samples.push({ id: e.id, key: e.key, errors });
        }
        if (ops.length >= BACKFILL_BATCH) {
          await this.store.writeKeys(ops);
          ops = [];
        }
      }
    } finally {
      await ids.close();
    }
    const vkey = schemaVersionKey(ntype);
    ops.push({ type: 'put', space: 'meta', key: META_PREFIX + ntype, value: def }, { type: 'put', space: 'ver', key: vkey, value: hlc }, { type: 'del', space: 'tomb', key: vkey });
    await this.store.commit([], ops, { hlcMax: hlc, outbox: op ? [op] : [] });
    this.byType.set(ntype, loaded);
    return result;
  }

  /** Removes a definition at `hlc` (leaving a tombstone) and drops its indexes. The caller holds the write lock. */
  private async remove(ntype: string, hlc: string, op: SchemaOp | undefined): Promise<void> {
    const vkey = schemaVersionKey(ntype);
    await this.store.commit(
      [],
      [
        { type: 'del', space: 'meta', key: META_PREFIX + ntype },
        { type: 'del', space: 'ver', key: vkey },
        { type: 'put', space: 'tomb', key: vkey, value: hlc },
      ],
      { hlcMax: hlc, outbox: op ? [op] : [] },
    );
    this.byType.delete(ntype);
    await this.clearIndex(ntype);
  }

  private async clearIndex(ntype: string): Promise<void> {
    const prefix = schemaIndexTypePrefix(ntype);
    await this.store.clearKeys('idx', { gte: prefix, lt: prefixEnd(prefix) });
  }
}

// The rules a replicated op of a tenant must satisfy on this node: the record rules and clock bound of
// shared/rem/validate-op.ts, plus what only the store knows how to check (schema definitions).
import { opRulesFor, type OpRules } from '../rem/validate-op.js';
import type { HybridLogicalClock } from '../rem/hlc.js';
import { checkSchemaDefinition } from './schema-registry.js';
import type { StoreLimits } from './store-types.js';

export function storeOpRules(store: { clock: HybridLogicalClock; dimension: number; limits: StoreLimits }): OpRules {
  const uniqueItemsMax = store.limits.schemaUniqueItemsMax;
  return { ...opRulesFor(store), checkSchema: (definition) => checkSchemaDefinition(definition, uniqueItemsMax) };
}

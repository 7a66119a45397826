// Answers are serialised through their response schemas (fast-json-stringify), which the exact schemas make fast. But
// an answer that fits no branch of a union (a record stored with a field its schema does not list, say) makes
// fast-json-stringify throw, and the client would get a 500 for data the node holds. This serializer factory wraps
// fastify's default: such an answer is written with JSON.stringify instead and reported, so a schema gap is visible
// to operators and never an error for the client.
import { SerializerSelector, type RouteDefinition, type Serializer, type SerializerFactory } from '@fastify/fast-json-stringify-compiler';

export interface SchemaMismatch {
  method: string;
  url: string;
  status: string;
  err: string;
}

/** fastify's `schemaController` option with its serializer factory replaced. */
export interface TolerantSchemaController {
  compilersFactory: { buildSerializer: (...args: Parameters<SerializerFactory>) => (route: RouteDefinition) => Serializer };
}

/** The `schemaController` option of a fastify server whose answers never fail on their schema. */
export function tolerantSerialization(report: (m: SchemaMismatch) => void): TolerantSchemaController {
  const defaults = SerializerSelector();
  return {
    compilersFactory: {
      buildSerializer(externalSchemas?: unknown, options?: Parameters<SerializerFactory>[1]) {
        // the ajv validators that pick a union's branch are compiled with the route, at start: lazily, the first
        // answer through each union route compiled them on the event loop (a 100 ms stall of a fresh node's first
        // query, which its health probes saw)
        const compile = defaults(externalSchemas, { compileValidators: true, ...options });
        return (route: RouteDefinition): Serializer => {
          const serialize = compile(route);
          return (data) => {
            try {
              return serialize(data);
            } catch (err) {
              report({ method: route.method, url: route.url, status: route.httpStatus, err: err instanceof Error ? err.message : String(err) });
              return JSON.stringify(data);
            }
          };
        };
      },
    },
  };
}

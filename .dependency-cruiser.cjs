// The layers of the code, enforced by `npm run lint:layers` (part of `npm test`). Imports only go down:
//
//   services/*                               the processes: configuration, wiring, routes (never each other)
//   shared/http, shared/process              what the services share at the edge (fastify helpers, entry points)
//   shared/lifecycle                         tenant lifecycle: snapshots in S3, restore, durable operations
//   shared/replication, jobs, ingest         transport and pipelines: publisher, applier, job streams, parsers
//   shared/search, shared/query, shared/chat reads over a tenant: search, the query dialect, chat
//   shared/store                             the tenant store, its key layout, write path, kinds, schemas
//   shared/index, embed, blob, bus, metrics  indexes beside the store, embedders, S3, NATS names, prom-client
//   shared/config, shared/rem                configuration from the environment; the data model (types, ids,
//                                            codecs, HLC, op format, entity CRDT, write rules)
//
// and nothing below the edge speaks HTTP (no fastify import).
/** @type {import('dependency-cruiser').IConfiguration} */
const LAYERS = [
  ['rem', ['^shared/rem/']],
  ['config', ['^shared/config/']],
  ['base', ['^shared/(index|embed|blob|bus|metrics|auth)/']],
  ['store', ['^shared/store/']],
  ['reads', ['^shared/(search|query|chat)/']],
  ['transport', ['^shared/(replication|jobs|ingest)/']],
  ['lifecycle', ['^shared/lifecycle/']],
  ['edge', ['^shared/(http|process)/']],
  ['services', ['^services/']],
];

/** Every layer may import the layers listed before it (and itself); these are what it may not import. */
function above(i) {
  return LAYERS.slice(i + 1).flatMap(([, paths]) => paths);
}

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'Modules that import each other (directly or through others) cannot be understood or moved alone.',
    from: {},
    to: { circular: true },
  },
  ...LAYERS.slice(0, -1).map(([name, paths], i) => ({
    name: `layer-${name}`,
    severity: 'error',
    comment: `shared/${name} imports a layer above it: imports only go down (see the top of .dependency-cruiser.cjs).`,
    from: { path: paths },
    to: { path: above(i) },
  })),
  {
    name: 'rem-is-the-bottom',
    severity: 'error',
    comment: 'The data model imports no other folder of ours.',
    from: { path: '^shared/rem/' },
    to: { path: '^(shared|services)/', pathNot: '^shared/rem/' },
  },
  {
    name: 'config-imports-nothing-of-ours',
    severity: 'error',
    comment: 'Configuration reads the environment only.',
    from: { path: '^shared/config/' },
    to: { path: '^(shared|services)/', pathNot: '^shared/config/' },
  },
  {
    name: 'services-apart',
    severity: 'error',
    comment: 'A service never reaches into another one; what two share lives in shared/.',
    from: { path: '^services/([^/]+)/' },
    to: { path: '^services/', pathNot: '^services/$1/' },
  },
  {
    name: 'engine-without-http',
    severity: 'error',
    comment: 'The engine throws domain errors; only the edge (shared/http, services) speaks HTTP.',
    from: { path: '^shared/', pathNot: '^shared/(http|process)/' },
    to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
  },
];

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};

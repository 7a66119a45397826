// The deployment manifests (k8s/, istio/, keda/, test-topology/kind/), checked without a cluster: each kustomization
// renders with `kubectl kustomize`, every rendered document validates against its kubernetes-models model and has no
// field the model does not know, and the manifests agree with the code they deploy: the configuration the pods would
// load (the services' own loaders on the rendered environment), ports, probe paths and routes, stream, consumer and
// metric names, variables the code reads, the tier table of the seed. Also `promtool check rules` / `test rules` on
// the alert rules and `shellcheck` on every shell script of the repository.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, requireBinary } from '../scripts/system-deps.js';
import { JOBS_STREAM, workerConsumer } from '../shared/bus/names.js';
import { loadConfig } from '../shared/config/config.js';
import { loadGatewayConfig, loadWorkerConfig } from '../shared/config/ingest-config.js';
import { createGatewayMetrics, createWorkerMetrics } from '../shared/metrics/ingest-metrics.js';
import { createNodeMetrics } from '../shared/metrics/metrics.js';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { addKeyToFile, generateJwk, KeyRing, readJwksFile } from '../shared/auth/keys.js';
import { mintToken, type Scope } from '../shared/auth/tokens.js';
import { callUrl } from './support/api.js';
import { LIBRARY_VARIABLES, ROOT, scanEnvReads } from './support/env-reads.js';
import { spawnService } from './support/process.js';
import { startS3 } from './support/s3.js';
import { tempDir } from './support/tmp.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: Any;
}

/** The seed's tier table: what each overlay and each tier's KEDA objects must say. */
const TIERS = {
  small: { db: { cpu: '1', memory: '1Gi', storage: '50Gi', max: 10 }, worker: { cpu: '4', memory: '8Gi', storage: '5Gi', max: 5 } },
  medium: { db: { cpu: '2', memory: '2Gi', storage: '100Gi', max: 20 }, worker: { cpu: '8', memory: '16Gi', storage: '10Gi', max: 10 } },
  large: { db: { cpu: '4', memory: '4Gi', storage: '200Gi', max: 30 }, worker: { cpu: '16', memory: '32Gi', storage: '20Gi', max: 15 } },
} as const;
type Tier = keyof typeof TIERS;
const TIER_NAMES = Object.keys(TIERS) as Tier[];
const NAMESPACE = 'percolate';
/** Tenants per database pod and jobs per worker that KEDA scales on (the seed). */
const TENANTS_PER_POD = '5';
const JOBS_PER_WORKER = '5';

const KIND_DIR = 'test-topology/kind';
const RENDERED_DIRS = [
  ...TIER_NAMES.map((t) => `k8s/overlays/${t}`),
  'istio/affinity',
  'istio/locality',
  ...TIER_NAMES.map((t) => `keda/${t}`),
  `${KIND_DIR}/minio`,
  `${KIND_DIR}/clients`,
  `${KIND_DIR}/keda`,
];
/** The KIND overlay includes the secret-files component, whose files are local: rendered from a copy with placeholders. */
const KIND_OVERLAY = `${KIND_DIR}/overlay`;
/** The seed scenarios, one script each (KIND.md). */
const KIND_SCENARIOS = ['tenant-routing', 'scale-to-zero', 'worker-scaling', 'replication', 'multi-az'];

/** kubectl on PATH, or in /usr/local/bin where installers put it. */
function kubectlBinary(): string {
  const found = findBinary('kubectl') ?? (fs.existsSync('/usr/local/bin/kubectl') ? '/usr/local/bin/kubectl' : undefined);
  if (!found) throw new Error('kubectl is not installed (https://kubernetes.io/docs/tasks/tools/): `kubectl kustomize` renders the manifests, no cluster needed');
  return found;
}

function render(dir: string): Doc[] {
  const text = execFileSync(kubectlBinary(), ['kustomize', dir], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(text).map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/** Renders `dir` from a copy of the manifests with placeholder files for the secret-files component. */
function renderWithSecretFiles(dir: string, jwks = '{"keys":[]}'): Doc[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'percolate-manifests-'));
  try {
    for (const d of ['k8s', 'keda', 'istio', KIND_DIR]) fs.cpSync(path.join(ROOT, d), path.join(tmp, d), { recursive: true });
    const files = path.join(tmp, 'k8s/components/secret-files/files');
    fs.writeFileSync(path.join(files, 'jwks.json'), jwks);
    fs.writeFileSync(path.join(files, 's3.env'), 'AWS_ACCESS_KEY_ID=placeholder\nAWS_SECRET_ACCESS_KEY=placeholder\n');
    fs.writeFileSync(path.join(files, 'admin-token'), 'placeholder');
    return render(path.join(tmp, dir));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
function one(docs: Doc[], kind: string, name: string): Doc {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length} (have: ${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ')})`);
  return found[0]!;
}
const fqdn = (svc: Doc) => `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;

/** The pod template of a workload (StatefulSet, Deployment, CronJob). */
function podSpec(w: Doc): Any {
  return w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template.spec : w.spec.template.spec;
}
const WORKLOAD_KINDS = ['StatefulSet', 'Deployment', 'CronJob'];
const allContainers = (spec: Any): Any[] => [...(spec.initContainers ?? []), ...spec.containers];

/**
 * The environment a container would see: its env (downward API fields and Secret keys as placeholders) and the keys
 * of the ConfigMaps it takes with envFrom, from the same rendering.
 */
function containerEnv(docs: Doc[], c: Any, podName = 'pod-0'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = one(docs, 'ConfigMap', from.configMapRef.name);
    Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else if (e.valueFrom?.fieldRef) env[e.name] = 'node-a1';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 'secret-placeholder';
    else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}

// ---- models: validation and known fields ---------------------------------------------------------------------

/** The kubernetes-models module of an apiVersion and kind (core, API groups, KEDA, Istio). */
function modelModule(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  if (group!.endsWith('.istio.io')) return `@kubernetes-models/istio/${apiVersion}/${kind}`;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${apiVersion}/${kind}`;
}

/**
 * The models' TypeScript declarations, read with the compiler: a field a document has and its model's interface
 * does not declare is unknown. The models' validators check types, required fields and enums but let unknown fields
 * through (a misspelt `replcas` would be dropped by the API server's pruning, not refused), so this is the check
 * that catches misspellings.
 */
class KnownFields {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(models: { module: string; kind: string }[]) {
    const file = path.join(ROOT, 'test', '__manifest-models__.ts');
    const text = models.map((m, i) => `import type { I${m.kind} as T${i} } from '${m.module}';\nexport type M${i} = T${i};`).join('\n');
    const options: ts.CompilerOptions = { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, types: [] };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, text, lang) : getSourceFile.call(host, f, lang, ...rest));
    host.fileExists = (f) => f === file || fileExists.call(host, f);
    host.readFile = (f) => (f === file ? text : readFile.call(host, f));
    const program = ts.createProgram([file], options, host);
    const source = program.getSourceFile(file)!;
    const problems = ts.getPreEmitDiagnostics(program, source).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    if (problems.length) throw new Error(`model declarations: ${problems.join('; ')}`);
    this.checker = program.getTypeChecker();
    for (const st of source.statements) {
      if (ts.isTypeAliasDeclaration(st)) {
        const i = Number(st.name.text.slice(1));
        this.types.set(`${models[i]!.module}`, this.checker.getTypeAtLocation(st.name));
      }
    }
  }

  /** Paths of the fields of `doc` its model does not declare. */
  unknown(doc: Doc): string[] {
    const type = this.types.get(modelModule(doc.apiVersion, doc.kind));
    if (!type) throw new Error(`no model loaded for ${doc.apiVersion} ${doc.kind}`);
    const out: string[] = [];
    this.walk(doc, type, '', out);
    return out;
  }

  private walk(value: unknown, type: ts.Type, at: string, out: string[]): void {
    if (value === null || typeof value !== 'object') return;
    const members = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
    // an untyped field (free-form in the CRD) takes anything
    if (members.some((t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) return;
    if (Array.isArray(value)) {
      const array = members.find((t) => this.checker.isArrayType(t));
      if (!array) return; // a type mismatch: validate() reports it
      const element = this.checker.getTypeArguments(array as ts.TypeReference)[0]!;
      value.forEach((v, i) => this.walk(v, element, `${at}[${i}]`, out));
      return;
    }
    const objects = members.filter((t) => t.flags & ts.TypeFlags.Object && !this.checker.isArrayType(t));
    if (objects.length === 0) return;
    for (const [key, v] of Object.entries(value)) {
      let known = false;
      for (const t of objects) {
        const prop = t.getProperty(key);
        const index = prop ? undefined : this.checker.getIndexInfoOfType(t, ts.IndexKind.String);
        if (prop || index) {
          known = true;
          this.walk(v, prop ? this.checker.getTypeOfSymbol(prop) : index!.type, `${at}.${key}`, out);
          break;
        }
      }
      if (!known) out.push(`${at}.${key}`);
    }
  }
}

async function validateWithModel(doc: Doc): Promise<void> {
  const mod = (await import(modelModule(doc.apiVersion, doc.kind))) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[doc.kind];
  if (!Model) throw new Error(`${modelModule(doc.apiVersion, doc.kind)} exports no ${doc.kind}`);
  new Model(doc).validate();
}

// ---- the code's facts ------------------------------------------------------------------------------------------

/** Every metric the services define, with its label names (histograms with their _bucket, _sum, _count series). */
async function codeMetrics(): Promise<Map<string, Set<string>>> {
  const registries = [
    createNodeMetrics({ tier: 'small', openTenants: () => 0, activeTenants: () => 0 }).registry,
    createGatewayMetrics().registry,
    createWorkerMetrics().registry,
  ];
  const out = new Map<string, Set<string>>();
  for (const r of registries) {
    for (const m of await r.getMetricsAsJSON()) {
      const labels = new Set<string>((r.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []);
      const names = String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
      for (const n of names) {
        const set = out.get(n) ?? new Set<string>();
        for (const l of labels) set.add(l);
        if (n.endsWith('_bucket')) set.add('le');
        out.set(n, set);
      }
    }
  }
  return out;
}

/** Our metric names and the label names their selectors use, in a PromQL expression. */
function metricsIn(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b(percolate_[a-z0-9_]+)\b(\{([^}]*)\})?/g)) {
    out.push({ name: m[1]!, labels: [...(m[3] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) });
  }
  return out;
}

/** GET routes a route file defines (`app.get('/path'` or `scope.get('/path'`). */
function routesIn(file: string, method = 'get'): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(new RegExp(`\\b\\w+\\.${method}\\(\\s*'([^']+)'`, 'g'))].map((m) => m[1]!);
}

/** Every shell script of the repository: *.sh outside node_modules, and the CI entry .ci/run. */
function shellScripts(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === '.git' || e.name === 'data' || e.name === 'dist') continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.sh')) out.push(path.relative(ROOT, p));
    }
  };
  walk(ROOT);
  if (fs.existsSync(path.join(ROOT, '.ci/run'))) out.push('.ci/run');
  return out.sort();
}

// ---- the tests ---------------------------------------------------------------------------------------------------

describe('deployment manifests', () => {
  const rendered = new Map<string, Doc[]>();
  let known: KnownFields;
  let metrics: Map<string, Set<string>>;
  const overlay = (t: Tier) => rendered.get(`k8s/overlays/${t}`)!;
  const keda = (t: Tier) => rendered.get(`keda/${t}`)!;
  /** Variables the code reads, and those the scripts of the manifests read (the init container, the CronJob). */
  const codeReads = scanEnvReads();
  const scriptReads = scanEnvReads(['k8s/base/scripts']);

  beforeAll(async () => {
    for (const dir of RENDERED_DIRS) rendered.set(dir, render(dir));
    rendered.set(KIND_OVERLAY, renderWithSecretFiles(KIND_OVERLAY));
    const models = new Map<string, { module: string; kind: string }>();
    for (const docs of rendered.values()) for (const d of docs) models.set(modelModule(d.apiVersion, d.kind), { module: modelModule(d.apiVersion, d.kind), kind: d.kind });
    // the misspelling test below uses a StatefulSet model whatever the renderings hold
    models.set(modelModule('apps/v1', 'StatefulSet'), { module: modelModule('apps/v1', 'StatefulSet'), kind: 'StatefulSet' });
    known = new KnownFields([...models.values()]);
    metrics = await codeMetrics();
  });

  it('render with kubectl kustomize, no cluster needed', () => {
    for (const dir of RENDERED_DIRS) expect(rendered.get(dir)!.length, dir).toBeGreaterThan(0);
    for (const t of TIER_NAMES) {
      const kinds = new Set(overlay(t).map((d) => d.kind));
      for (const k of ['Namespace', 'StatefulSet', 'Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'NetworkPolicy', 'CronJob']) expect(kinds, `${t}: ${k}`).toContain(k);
    }
  });

  it('validate every rendered document with its kubernetes-models model', async () => {
    const failures: string[] = [];
    for (const [dir, docs] of rendered) {
      for (const d of docs) await validateWithModel(d).catch((err: unknown) => failures.push(`${dir} ${d.kind}/${d.metadata.name}: ${String(err)}`));
    }
    expect(failures).toEqual([]);
  });

  it('use no field their models do not know', () => {
    const unknown: string[] = [];
    for (const [dir, docs] of rendered) for (const d of docs) for (const f of known.unknown(d)) unknown.push(`${dir} ${d.kind}/${d.metadata.name}${f}`);
    expect(unknown).toEqual([]);
  });

  it('refuse a misspelt field (spec.replcas) that validate() alone lets through', async () => {
    const sts = structuredClone(one(overlay('small'), 'StatefulSet', 'percolate-db-small'));
    sts.spec.replcas = 3;
    sts.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    await validateWithModel(sts); // the model's validator does not see it
    expect(known.unknown(sts).sort()).toEqual(['.spec.replcas', '.spec.template.spec.containers[0].imagePullPolcy']);
  });

  it('render each tier under its names, in namespace percolate', () => {
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      for (const d of docs) if (d.kind !== 'Namespace' && d.kind !== 'ClusterRole' && d.kind !== 'ClusterRoleBinding') expect(d.metadata.namespace, `${d.kind}/${d.metadata.name}`).toBe(NAMESPACE);
      const db = one(docs, 'StatefulSet', `percolate-db-${t}`);
      const worker = one(docs, 'Deployment', `percolate-worker-${t}`);
      one(docs, 'Deployment', 'percolate-gateway');
      const svc = one(docs, 'Service', `percolate-db-${t}`);
      expect(svc.spec.type).toBe('ClusterIP');
      expect(fqdn(svc)).toBe(`percolate-db-${t}.percolate.svc.cluster.local`);
      // the client Service and the governing headless Service select exactly this tier's database pods
      const podLabels = db.spec.template.metadata.labels;
      const headless = one(docs, 'Service', db.spec.serviceName);
      expect(headless.spec.clusterIP).toBe('None');
      for (const s of [svc, headless]) for (const [k, v] of Object.entries(s.spec.selector)) expect(podLabels[k], `${s.metadata.name} selects ${k}`).toBe(v);
      expect(podLabels['percolate.io/tier']).toBe(t);
      expect(db.spec.selector.matchLabels['percolate.io/tier']).toBe(t);
      for (const w of [db, worker]) {
        const c = podSpec(w).containers[0];
        expect(containerEnv(docs, c).PERCOLATE_TIER, `${w.metadata.name}`).toBe(t);
      }
    }
  });

  it('render the shared parts identically in every overlay (applying several tiers agrees)', () => {
    const shared = (t: Tier) => overlay(t).filter((d) => d.metadata.labels?.['percolate.io/tier'] === undefined);
    const small = shared('small');
    expect(small.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(expect.arrayContaining(['StatefulSet/nats', 'Deployment/percolate-gateway', 'NetworkPolicy/default-deny']));
    for (const t of TIER_NAMES) expect(shared(t), t).toEqual(small);
    // and no tier's own object collides with another tier's
    const names = TIER_NAMES.flatMap((t) => overlay(t).filter((d) => d.metadata.labels?.['percolate.io/tier'] === t).map((d) => `${d.kind}/${d.metadata.name}`));
    expect(new Set(names).size).toBe(names.length);
  });

  it('size each tier as the seed table says', () => {
    for (const t of TIER_NAMES) {
      const want = TIERS[t];
      const db = one(overlay(t), 'StatefulSet', `percolate-db-${t}`);
      const dbc = podSpec(db).containers[0];
      for (const side of ['requests', 'limits']) expect(dbc.resources[side], `${t} db ${side}`).toEqual({ cpu: want.db.cpu, memory: want.db.memory });
      expect(db.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe(want.db.storage);
      const worker = one(overlay(t), 'Deployment', `percolate-worker-${t}`);
      const wc = podSpec(worker).containers[0];
      for (const side of ['requests', 'limits']) expect(wc.resources[side], `${t} worker ${side}`).toEqual({ cpu: want.worker.cpu, memory: want.worker.memory, 'ephemeral-storage': want.worker.storage });
      const tmp = podSpec(worker).volumes.find((v: Any) => v.name === 'tmp');
      expect(tmp.emptyDir.sizeLimit).toBe(want.worker.storage);
      // the hot-tenant memory budget fits the pod (the code's default, 4 GiB, would not)
      const cfg = loadConfig({ ...containerEnv(overlay(t), dbc), PERCOLATE_ZONE: 'a' });
      expect(cfg.lifecycle.hotMemoryBytesMax).toBeLessThan(parseQuantity(want.db.memory));
      expect(cfg.lifecycle.diskBytesMax).toBeLessThan(parseQuantity(want.db.storage));
    }
  });

  it('run the database as the code expects: config, ports, probes, drain, identity, zone, storage, spread', () => {
    const apiRoutes = routesIn('services/api/routes/health.ts');
    expect(routesIn('services/api/routes/health.ts', 'post')).toContain('/health/drain');
    expect(fs.existsSync(path.join(ROOT, 'scripts/drain.ts'))).toBe(true);
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      const db = one(docs, 'StatefulSet', `percolate-db-${t}`);
      const spec = podSpec(db);
      const c = spec.containers[0];
      expect(db.spec.podManagementPolicy).toBe('Parallel');
      expect(db.spec.replicas, 'KEDA owns the replica count').toBeUndefined();
      // what the node would load from this environment, with the zone the init container writes
      const env = containerEnv(docs, c, `percolate-db-${t}-0`);
      const cfg = loadConfig({ ...env, PERCOLATE_ZONE: 'a' });
      expect(cfg.nodeId).toBe(`percolate-db-${t}-0`);
      expect(cfg.host).toBe('0.0.0.0');
      expect(cfg.tier).toBe(t);
      expect(cfg.lifecycle.snapshots).toBeDefined();
      expect(cfg.syncReplicas).toBe(3);
      expect(c.env.find((e: Any) => e.name === 'PERCOLATE_NODE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
      // port and probes: the configured port, the node's health routes
      expect(c.ports).toEqual([{ name: 'http', containerPort: cfg.port }]);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        expect(c[probe].httpGet.port, probe).toBe('http');
        expect(apiRoutes, probe).toContain(c[probe].httpGet.path);
      }
      expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(c.livenessProbe.httpGet.path).toBe('/health/live');
      // the drain: preStop runs the compiled scripts/drain.ts, which reads PERCOLATE_DATA_DIR and PORT; the grace
      // period outlasts the node's drain bound
      expect(c.lifecycle.preStop.exec.command).toEqual(['node', 'dist/scripts/drain.js']);
      expect(env.PERCOLATE_DATA_DIR).toBe('/data');
      expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(cfg.drainTimeoutMs + 10_000);
      // the data volume is the PVC template, mounted at the data directory
      const claim = db.spec.volumeClaimTemplates[0].metadata.name;
      expect(c.volumeMounts.find((m: Any) => m.name === claim).mountPath).toBe(cfg.dataDir);
      // the node process is exec'd with PERCOLATE_ZONE from the file the init container writes
      const zoneInit = spec.initContainers.find((i: Any) => i.name === 'zone');
      const zoneFile = zoneInit.command.at(-1);
      expect(c.command.join(' ')).toContain(`PERCOLATE_ZONE="$(cat ${zoneFile})" exec node dist/services/api/main.js`);
      expect(codeReads.reads.has('PERCOLATE_ZONE')).toBe(true);
      expect(zoneInit.env.find((e: Any) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
      expect(spec.volumes.find((v: Any) => v.name === 'api-token').projected.sources[0].serviceAccountToken).toBeDefined();
      expect(spec.automountServiceAccountToken).toBe(false);
      // the service account may read nodes, and nothing else
      const binding = byKind(docs, 'ClusterRoleBinding').find((b) => b.subjects.some((s: Any) => s.name === spec.serviceAccountName && s.namespace === NAMESPACE));
      expect(binding).toBeDefined();
      expect(one(docs, 'ClusterRole', binding!.roleRef.name).rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
      // zones and nodes
      const spread = spec.topologySpreadConstraints.find((s: Any) => s.topologyKey === 'topology.kubernetes.io/zone');
      expect(spread.labelSelector.matchLabels).toEqual(db.spec.selector.matchLabels);
      expect(spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
      // a disruption budget on by default, over exactly these pods
      const pdb = byKind(docs, 'PodDisruptionBudget').find((p) => p.metadata.name === `percolate-db-${t}`)!;
      expect(pdb.spec.selector.matchLabels).toEqual(db.spec.selector.matchLabels);
      expect(pdb.spec.maxUnavailable).toBe(1);
    }
  });

  it('run the gateway and the workers as the code expects', () => {
    const opsRoutes = routesIn('shared/http/ops-routes.ts');
    for (const service of ['services/gateway/app.ts', 'services/worker/main.ts']) expect(fs.readFileSync(path.join(ROOT, service), 'utf8')).toContain('app.register(opsRoutes');
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      const gw = one(docs, 'Deployment', 'percolate-gateway');
      const gwc = podSpec(gw).containers[0];
      const gcfg = loadGatewayConfig(containerEnv(docs, gwc));
      expect(gwc.ports).toEqual([{ name: 'http', containerPort: gcfg.port }]);
      // the gateway creates every tier's consumer, so each tier's workers can be woken from zero
      expect(gcfg.tiers).toEqual(expect.arrayContaining(TIER_NAMES));
      expect(one(docs, 'Service', 'percolate-gateway').spec.ports[0].port).toBe(gcfg.port);
      const worker = one(docs, 'Deployment', `percolate-worker-${t}`);
      expect(worker.spec.replicas, 'KEDA owns the replica count').toBeUndefined();
      const wc = podSpec(worker).containers[0];
      const wcfg = loadWorkerConfig(containerEnv(docs, wc));
      expect(wc.ports).toEqual([{ name: 'http', containerPort: wcfg.port }]);
      expect(wcfg.tier).toBe(t);
      // the workers write to their own tier's database Service, on its port
      const svc = one(docs, 'Service', `percolate-db-${t}`);
      expect(wcfg.apiUrl).toBe(`http://${fqdn(svc)}:${svc.spec.ports[0].port}`);
      expect(wcfg.auth.keysFile).toBeDefined();
      expect(podSpec(worker).terminationGracePeriodSeconds * 1000).toBeGreaterThan(wcfg.shutdownGraceMs);
      for (const c of [gwc, wc]) {
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) expect(opsRoutes, probe).toContain(c[probe].httpGet.path);
        expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
      }
      // what the job consumers agree on is the same on both sides (else each would keep updating the consumer)
      expect(wcfg.jobs).toEqual(gcfg.jobs);
      expect(wcfg.s3).toEqual(gcfg.s3);
    }
  });

  it('set only environment variables the code (or the manifests\' own scripts) reads', () => {
    const readable = (name: string) => codeReads.reads.has(name) || scriptReads.reads.has(name) || LIBRARY_VARIABLES.has(name);
    const unread: string[] = [];
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      for (const w of docs.filter((d) => WORKLOAD_KINDS.includes(d.kind))) {
        for (const c of allContainers(podSpec(w))) {
          if (!String(c.image).startsWith('percolate-')) continue;
          for (const name of Object.keys(containerEnv(docs, c))) if (!readable(name)) unread.push(`${t} ${w.metadata.name}/${c.name}: ${name}`);
        }
      }
      // NATS takes its server name from the environment, in its configuration file
      const nats = one(docs, 'StatefulSet', 'nats');
      const conf = Object.values(one(docs, 'ConfigMap', podSpec(nats).volumes.find((v: Any) => v.name === 'config').configMap.name).data!).join('\n');
      for (const e of podSpec(nats).containers[0].env) expect(conf).toContain(`$${e.name}`);
    }
    expect(unread).toEqual([]);
    // and the check sees what it should: the scripts' own variables, and no more
    expect([...scriptReads.reads.keys()].sort()).toEqual(['NODE_NAME', 'PERCOLATE_API_TOKEN']);
  });

  it('give every container requests, limits and a locked-down security context', () => {
    const problems: string[] = [];
    for (const t of TIER_NAMES) {
      for (const w of overlay(t).filter((d) => WORKLOAD_KINDS.includes(d.kind))) {
        const spec = podSpec(w);
        const pod = spec.securityContext ?? {};
        for (const c of allContainers(spec)) {
          const at = `${w.kind}/${w.metadata.name}/${c.name}`;
          for (const side of ['requests', 'limits']) for (const r of ['cpu', 'memory']) if (c.resources?.[side]?.[r] === undefined) problems.push(`${at}: no ${side}.${r}`);
          const sc = { ...pod, ...c.securityContext };
          if (sc.runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot`);
          if (sc.runAsUser !== 10001) problems.push(`${at}: runAsUser ${sc.runAsUser}`);
          if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem`);
          if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation`);
          if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${at}: capabilities.drop ALL`);
          // a read-only root: whatever the service writes has a volume (/tmp everywhere it runs our code)
          if (String(c.image).startsWith('percolate-') && !c.name.startsWith('zone') && c.name !== 'snapshots' && !c.volumeMounts?.some((m: Any) => m.mountPath === '/tmp')) problems.push(`${at}: no /tmp volume`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('roll the pods when their configuration changes (hashed ConfigMap names), and reference Secrets, not values', () => {
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      expect(byKind(docs, 'Secret'), 'no secret values in the overlays').toEqual([]);
      for (const w of docs.filter((d) => WORKLOAD_KINDS.includes(d.kind))) {
        const spec = podSpec(w);
        const refs = [
          ...allContainers(spec).flatMap((c: Any) => (c.envFrom ?? []).map((f: Any) => f.configMapRef.name)),
          ...(spec.volumes ?? []).filter((v: Any) => v.configMap).map((v: Any) => v.configMap.name),
        ];
        for (const name of refs) {
          const cm = one(docs, 'ConfigMap', name);
          expect(cm.metadata.name, `${w.metadata.name} -> ${name}`).toMatch(/-[a-z0-9]{10}$/);
        }
      }
    }
  });

  it('roll the pods when a Secret of the secret-files component changes', () => {
    const secretRefs = (jwks: string) => {
      const docs = renderWithSecretFiles(KIND_OVERLAY, jwks);
      const db = one(docs, 'StatefulSet', 'percolate-db-small');
      const keys = podSpec(db).volumes.find((v: Any) => v.name === 'keys').secret.secretName as string;
      expect(Object.keys(one(docs, 'Secret', keys).data)).toEqual(['jwks.json']);
      const cron = one(docs, 'CronJob', 'percolate-snapshots-small');
      const token = podSpec(cron).containers[0].env.find((e: Any) => e.name === 'PERCOLATE_API_TOKEN').valueFrom.secretKeyRef;
      expect(Object.keys(one(docs, 'Secret', token.name).data)).toEqual([token.key]);
      const s3 = podSpec(db).containers[0].env.find((e: Any) => e.name === 'AWS_ACCESS_KEY_ID').valueFrom.secretKeyRef;
      expect(Object.keys(one(docs, 'Secret', s3.name).data).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
      return keys;
    };
    const before = secretRefs('{"keys":[{"kid":"one"}]}');
    const after = secretRefs('{"keys":[{"kid":"two"}]}');
    expect(before).toMatch(/^percolate-auth-keys-[a-z0-9]{10}$/);
    expect(after).not.toBe(before);
  });

  it('separate the network: only the gateway and the database are reachable from outside the namespace', () => {
    const docs = overlay('small');
    const policies = byKind(docs, 'NetworkPolicy');
    const deny = one(docs, 'NetworkPolicy', 'default-deny');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // pods each policy applies to, by its podSelector's matchLabels
    const podsOf = (p: Doc) => docs.filter((d) => WORKLOAD_KINDS.includes(d.kind)).filter((w) => {
      const labels = w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template.metadata.labels : w.spec.template.metadata.labels;
      return Object.entries(p.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    }).map((w) => w.metadata.name);
    /** Ports of a workload open to sources outside the namespace (a rule without from, or with a namespaceSelector). */
    const openOutside = (name: string) => policies.filter((p) => podsOf(p).includes(name)).flatMap((p) => (p.spec.ingress ?? [])
      .filter((r: Any) => !r.from || r.from.some((f: Any) => f.namespaceSelector && !(f.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring' || f.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] === 'keda')))
      .flatMap((r: Any) => r.ports.map((port: Any) => port.port)));
    expect(openOutside('percolate-db-small')).toEqual([8080]);
    expect(openOutside('percolate-gateway')).toEqual([8081]);
    expect(openOutside('percolate-worker-small')).toEqual([]);
    expect(openOutside('nats')).toEqual([]);
    expect(openOutside('percolate-snapshots-small')).toEqual([]);
    // NATS clients: the namespace's pods only
    const nats = one(docs, 'NetworkPolicy', 'nats');
    const client = nats.spec.ingress.find((r: Any) => r.ports.some((p: Any) => p.port === 4222));
    expect(client.from).toEqual([{ podSelector: {} }]);
    // workers reach the database, NATS and S3
    const worker = one(docs, 'NetworkPolicy', 'worker');
    const egressPorts = worker.spec.egress.flatMap((r: Any) => r.ports.map((p: Any) => p.port));
    expect(egressPorts).toEqual(expect.arrayContaining([8080, 4222, 443]));
    // DNS for every pod
    const dns = one(docs, 'NetworkPolicy', 'dns-and-mesh');
    expect(dns.spec.podSelector).toEqual({});
    expect(dns.spec.egress[0].ports).toEqual(expect.arrayContaining([{ protocol: 'UDP', port: 53 }]));
  });

  it('run NATS as three JetStream servers with routes, monitoring and lame-duck stop', () => {
    const docs = overlay('small');
    const nats = one(docs, 'StatefulSet', 'nats');
    const svc = one(docs, 'Service', 'nats');
    const spec = podSpec(nats);
    const c = spec.containers[0];
    expect(nats.spec.replicas).toBe(3);
    expect(nats.spec.serviceName).toBe(svc.metadata.name);
    expect(svc.spec.clusterIP).toBe('None');
    const conf = Object.values(one(docs, 'ConfigMap', spec.volumes.find((v: Any) => v.name === 'config').configMap.name).data!).join('\n');
    expect(conf).toMatch(/jetstream \{\s*store_dir: \/data/);
    const routes = [...conf.matchAll(/nats:\/\/([a-z0-9-]+)\.([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:6222/g)];
    expect(routes.map((r) => r[1])).toEqual(['nats-0', 'nats-1', 'nats-2']);
    for (const r of routes) expect([r[2], r[3]]).toEqual([svc.metadata.name, NAMESPACE]);
    expect(c.ports.map((p: Any) => p.containerPort).sort()).toEqual([4222, 6222, 8222]);
    expect(c.lifecycle.preStop.exec.command.slice(0, 2)).toEqual(['nats-server', '--signal']);
    expect(c.lifecycle.preStop.exec.command[2]).toMatch(/^ldm/);
    const pid = /pid_file: (\S+)/.exec(conf)![1]!;
    expect(c.lifecycle.preStop.exec.command[2]).toBe(`ldm=${pid}`);
    expect(nats.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    // the database nodes and the ingest services connect to the three servers
    const common = containerEnv(docs, podSpec(one(docs, 'StatefulSet', 'percolate-db-small')).containers[0]);
    expect(common.PERCOLATE_NATS_URL!.split(',')).toEqual(routes.map((r) => `nats://${r[1]}.${r[2]}.${r[3]}.svc.cluster.local:4222`));
  });

  it('ask for snapshots from a CronJob with an admin token and the real routes', () => {
    const tenantRoutes = fs.readFileSync(path.join(ROOT, 'services/api/routes/tenant.ts'), 'utf8');
    const app = fs.readFileSync(path.join(ROOT, 'services/api/app.ts'), 'utf8');
    expect(tenantRoutes).toContain("path: '/tenant/snapshot'");
    expect(tenantRoutes).toContain("'/operations/:id'");
    expect(routesIn('services/api/routes/admin.ts')).toContain('/tenants');
    expect(app).toContain("prefix: '/api/v1/admin'");
    expect(app).toContain("prefix: '/api/v1'");
    const script = fs.readFileSync(path.join(ROOT, 'k8s/base/scripts/snapshot-tenants.mjs'), 'utf8');
    for (const route of ["'/api/v1/tenant/snapshot'", '`/api/v1/admin/tenants?', '`/api/v1/operations/']) expect(script).toContain(route);
    expect(script).toContain("headers['x-tenant-id'] = tenant");
    for (const s of ['snapshot-tenants.mjs', 'zone-from-node.mjs']) execFileSync(process.execPath, ['--check', path.join(ROOT, 'k8s/base/scripts', s)]);
    for (const t of TIER_NAMES) {
      const docs = overlay(t);
      const cron = one(docs, 'CronJob', `percolate-snapshots-${t}`);
      const c = podSpec(cron).containers[0];
      expect(c.command).toEqual(['node', '/etc/percolate/scripts/snapshot-tenants.mjs']);
      const args = Object.fromEntries([0, 2].map((i) => [c.args[i], c.args[i + 1]]));
      const db = one(docs, 'StatefulSet', `percolate-db-${t}`);
      const headless = one(docs, 'Service', db.spec.serviceName);
      expect(args['--nodes']).toBe(fqdn(headless));
      expect(Number(args['--port'])).toBe(headless.spec.ports[0].port);
      expect(c.env).toEqual([{ name: 'PERCOLATE_API_TOKEN', valueFrom: { secretKeyRef: { name: 'percolate-admin-token', key: 'token' } } }]);
      expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    }
  });

  it('scale each tier with KEDA as the contract says', () => {
    for (const t of TIER_NAMES) {
      const objects = keda(t);
      expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['keda.sh/v1alpha1 ScaledObject', 'keda.sh/v1alpha1 ScaledObject']);
      const so = (component: string) => objects.find((o) => o.metadata.labels?.['app.kubernetes.io/component'] === component)!;
      // every target is a workload the same tier's overlay renders, in the same namespace
      for (const o of objects) {
        const ref = o.spec.scaleTargetRef;
        const target = one(overlay(t), ref.kind, ref.name);
        expect(target.apiVersion).toBe(ref.apiVersion);
        expect(o.metadata.namespace).toBe(target.metadata.namespace);
      }
      const db = so('database');
      expect(db.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: `percolate-db-${t}` });
      expect([db.spec.pollingInterval, db.spec.cooldownPeriod, db.spec.minReplicaCount, db.spec.maxReplicaCount]).toEqual([15, 300, 0, TIERS[t].db.max]);
      expect(db.spec.triggers.map((x: Any) => x.type)).toEqual(['prometheus', 'prometheus']);
      expect(db.spec.triggers[0].metadata).toMatchObject({ query: `sum(percolate_active_tenants{tier="${t}"})`, threshold: TENANTS_PER_POD, activationThreshold: '0' });
      const svc = one(overlay(t), 'Service', `percolate-db-${t}`);
      expect(db.spec.triggers[1].metadata).toMatchObject({
        query: `sum(rate(istio_requests_total{reporter="source",destination_service_name="${svc.metadata.name}"}[2m]))`,
        threshold: '1000000',
        activationThreshold: '0',
      });
      const worker = so('worker');
      expect(worker.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: `percolate-worker-${t}` });
      expect([worker.spec.pollingInterval, worker.spec.cooldownPeriod, worker.spec.minReplicaCount, worker.spec.maxReplicaCount]).toEqual([5, 60, 0, TIERS[t].worker.max]);
      const [js, prom] = worker.spec.triggers;
      expect(js.type).toBe('nats-jetstream');
      // the stream and consumer the code uses; the monitoring endpoint is the NATS Service of the overlay, headless so
      // KEDA reaches a consumer's leader as <server name>.<endpoint>
      const natsSvc = one(overlay(t), 'Service', 'nats');
      const monitor = natsSvc.spec.ports.find((p: Any) => p.name === 'http-monitor');
      expect(js.metadata).toEqual({
        natsServerMonitoringEndpoint: `${fqdn(natsSvc)}:${monitor.port}`,
        account: '$G',
        stream: JOBS_STREAM,
        consumer: workerConsumer(t),
        lagThreshold: JOBS_PER_WORKER,
        activationLagThreshold: '0',
      });
      expect(prom.type).toBe('prometheus');
      expect(prom.metadata).toMatchObject({ query: `max(percolate_jobs_pending{tier="${t}"})`, threshold: JOBS_PER_WORKER, activationThreshold: '0' });
      // KEDA reads trigger metadata as strings
      for (const o of objects) for (const trig of o.spec.triggers) for (const [k, v] of Object.entries(trig.metadata)) expect(typeof v, `${o.metadata.name} ${k}`).toBe('string');
    }
  });

  it('route tenants by X-Tenant-ID to the database Service with Istio, in two variants', () => {
    const svc = one(overlay('small'), 'Service', 'percolate-db-small');
    const gw = one(overlay('small'), 'Service', 'percolate-gateway');
    // the header the code routes by
    expect(fs.readFileSync(path.join(ROOT, 'shared/http/tenant.ts'), 'utf8')).toContain('X-Tenant-ID');
    for (const variant of ['istio/affinity', 'istio/locality']) {
      const docs = rendered.get(variant)!;
      const dr = byKind(docs, 'DestinationRule');
      expect(dr.length).toBe(1);
      const lb = dr[0]!.spec.trafficPolicy.loadBalancer;
      expect(dr[0]!.spec.host).toBe(fqdn(svc));
      expect(lb.consistentHash.httpHeaderName).toBe('x-tenant-id');
      expect(lb.consistentHash.ringHash.minimumRingSize).toBeGreaterThanOrEqual(1024);
      expect(dr[0]!.spec.trafficPolicy.outlierDetection).toBeDefined();
      const vs = one(docs, 'VirtualService', 'percolate-ingress');
      const dest = (name: string) => vs.spec.http.find((h: Any) => h.name === name).route[0].destination;
      expect(dest('database')).toEqual({ host: fqdn(svc), port: { number: svc.spec.ports[0].port } });
      expect(dest('gateway')).toEqual({ host: fqdn(gw), port: { number: gw.spec.ports[0].port } });
      expect(vs.spec.gateways).toEqual([one(docs, 'Gateway', 'percolate-ingress').metadata.name]);
      expect(one(docs, 'PeerAuthentication', 'default').spec.mtls.mode).toBe('STRICT');
      for (const d of docs) expect(d.metadata.namespace).toBe(NAMESPACE);
      if (variant === 'istio/affinity') expect(lb.localityLbSetting).toEqual({ enabled: false });
      else {
        expect(lb.localityLbSetting.enabled).toBe(true);
        expect(lb.localityLbSetting.failover).toBeUndefined(); // one of distribute, failover, failoverPriority
        const rules = lb.localityLbSetting.distribute as { from: string; to: Record<string, number> }[];
        expect(rules.length).toBe(3);
        for (const r of rules) {
          expect(Object.values(r.to).reduce((a, b) => a + b, 0)).toBe(100);
          expect(r.to[r.from]).toBe(80);
        }
        // the localities are the KIND cluster's region and zones
        const cluster = fs.readFileSync(path.join(ROOT, KIND_DIR, 'cluster.yaml'), 'utf8');
        const region = /topology\.kubernetes\.io\/region[=:]\s*"?([a-z0-9-]+)/.exec(cluster)![1]!;
        const zones = [...cluster.matchAll(/topology\.kubernetes\.io\/zone[=:]\s*"?([a-z0-9-]+)/g)].map((m) => m[1]);
        expect(rules.map((r) => r.from)).toEqual(zones.map((z) => `${region}/${z}/*`));
      }
    }
  });

  it('install the KIND cluster from the real overlay: MinIO as S3, the zones of cluster.yaml, a script per scenario', () => {
    const docs = rendered.get(KIND_OVERLAY)!;
    const cluster = fs.readFileSync(path.join(ROOT, KIND_DIR, 'cluster.yaml'), 'utf8');
    const zones = [...cluster.matchAll(/topology\.kubernetes\.io\/zone:\s*([a-z0-9-]+)/g)].map((m) => m[1]);
    expect(zones).toEqual(['a', 'b', 'c']);
    // the database and the ingest services use MinIO's Service, and would load that configuration
    const minio = one(rendered.get(`${KIND_DIR}/minio`)!, 'Service', 'minio');
    const db = one(docs, 'StatefulSet', 'percolate-db-small');
    const env = containerEnv(docs, podSpec(db).containers[0], 'percolate-db-small-0');
    const cfg = loadConfig({ ...env, PERCOLATE_ZONE: 'a' });
    expect(cfg.lifecycle.snapshots?.endpoint).toBe(`http://${fqdn(minio)}:${minio.spec.ports[0].port}`);
    expect(cfg.lifecycle.activeWindowMs).toBe(60_000);
    const worker = one(docs, 'Deployment', 'percolate-worker-small');
    expect(loadWorkerConfig(containerEnv(docs, podSpec(worker).containers[0])).s3.endpoint).toBe(cfg.lifecycle.snapshots?.endpoint);
    // the tier's limits stay (the database's), only requests shrink
    expect(podSpec(db).containers[0].resources.limits).toEqual(podSpec(one(overlay('small'), 'StatefulSet', 'percolate-db-small')).containers[0].resources.limits);
    // everything but the Secrets and the environment is the real overlay's
    expect(docs.map((d) => `${d.kind}/${d.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).filter((n) => !n.startsWith('Secret/')).sort())
      .toEqual(overlay('small').map((d) => `${d.kind}/${d.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).sort());
    // KIND's ScaledObjects target the KIND overlay's workloads; only the database cooldown is shorter
    for (const o of rendered.get(`${KIND_DIR}/keda`)!) one(docs, o.spec.scaleTargetRef.kind, o.spec.scaleTargetRef.name);
    expect(one(rendered.get(`${KIND_DIR}/keda`)!, 'ScaledObject', 'percolate-db-small').spec.cooldownPeriod).toBe(60);
    // one client per zone of the cluster
    const clients = byKind(rendered.get(`${KIND_DIR}/clients`)!, 'Deployment');
    expect(clients.map((c) => podSpec(c).nodeSelector['topology.kubernetes.io/zone'])).toEqual(zones);
    // one script per seed scenario, saying what to watch and what a pass looks like
    for (const s of KIND_SCENARIOS) {
      const text = fs.readFileSync(path.join(ROOT, KIND_DIR, `scenario-${s}.sh`), 'utf8');
      expect(text, s).toMatch(/^# Watch: /m);
      expect(text, s).toMatch(/^# Pass: /m);
      expect(fs.statSync(path.join(ROOT, KIND_DIR, `scenario-${s}.sh`)).mode & 0o111, `${s} is executable`).not.toBe(0);
    }
    const kindMd = fs.readFileSync(path.join(ROOT, 'KIND.md'), 'utf8');
    for (const s of KIND_SCENARIOS) expect(kindMd).toContain(`scenario-${s}.sh`);
  });

  it('alert and chart only metrics (and labels) the code defines', () => {
    const exprs: { where: string; expr: string }[] = [];
    const rules = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'k8s/base/monitoring/alerts.yaml'), 'utf8'))[0]!.toJS();
    for (const g of rules.groups) for (const r of g.rules) exprs.push({ where: `alert ${r.alert}`, expr: r.expr });
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'k8s/base/monitoring/dashboard.json'), 'utf8'));
    for (const p of dashboard.panels) for (const tg of p.targets) exprs.push({ where: `panel ${p.title}`, expr: tg.expr });
    for (const t of TIER_NAMES) for (const o of keda(t)) for (const trig of o.spec.triggers) if (trig.metadata.query) exprs.push({ where: `keda ${o.metadata.name}`, expr: trig.metadata.query });
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const { where, expr } of exprs) {
      for (const m of metricsIn(expr)) {
        seen.add(m.name);
        const labels = metrics.get(m.name);
        if (!labels) missing.push(`${where}: ${m.name}`);
        else for (const l of m.labels) if (!labels.has(l)) missing.push(`${where}: ${m.name}{${l}}`);
      }
    }
    expect(missing).toEqual([]);
    // the kinds of signal the alerts must cover, each by a metric of the code
    const alerted = new Set(exprs.filter((e) => e.where.startsWith('alert')).flatMap((e) => metricsIn(e.expr).map((m) => m.name)));
    for (const m of [
      'percolate_http_request_duration_seconds_count',
      'percolate_search_duration_seconds_bucket',
      'percolate_replication_lag_seconds_bucket',
      'percolate_jobs_pending',
      'percolate_tenant_lifecycle_duration_seconds_bucket',
      'percolate_tenant_evictions_total',
      'percolate_auth_failures_total',
      'percolate_nodejs_eventloop_lag_p99_seconds',
    ]) expect(alerted, m).toContain(m);
    expect(seen.size).toBeGreaterThan(10);
  });

  it('pass promtool check rules and the rules unit tests', () => {
    const promtool = requireBinary('promtool', 'prometheus');
    const dir = path.join(ROOT, 'k8s/base/monitoring');
    for (const args of [['check', 'rules', 'alerts.yaml'], ['test', 'rules', 'alerts.test.yaml']]) {
      const r = spawnSync(promtool, args, { cwd: dir, encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('pass shellcheck on every shell script of the repository', () => {
    const shellcheck = requireBinary('shellcheck', 'shellcheck');
    const scripts = shellScripts();
    expect(scripts).toEqual(expect.arrayContaining(['.ci/run', 'scripts/install-system-deps.sh']));
    const r = spawnSync(shellcheck, ['--severity=style', '--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

});

/** Runs one of k8s/base/scripts/ as its pod does; resolves with its exit code and output. */
function runScript(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'k8s/base/scripts', script), ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

describe("the zone init container's script, against an HTTPS API server", () => {
  it('writes the node\'s zone label, empty without one, and fails on a refusal or a value PERCOLATE_ZONE refuses', async () => {
    const openssl = findBinary('openssl');
    if (!openssl) throw new Error('openssl is not installed (Debian package openssl): it makes the API server\'s test certificate');
    const tmp = await tempDir('percolate-manifests-zone-');
    try {
      // the API server's certificate, which the script must verify with the account directory's ca.crt
      execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(tmp.dir, 'key.pem'), '-out', path.join(tmp.dir, 'cert.pem')], { stdio: 'ignore' });
      const account = path.join(tmp.dir, 'account');
      fs.mkdirSync(account);
      fs.copyFileSync(path.join(tmp.dir, 'cert.pem'), path.join(account, 'ca.crt'));
      fs.writeFileSync(path.join(account, 'token'), 'pod-token\n');
      const nodes: Record<string, Record<string, string>> = {
        'node-b': { 'topology.kubernetes.io/zone': 'b', 'kubernetes.io/hostname': 'node-b' },
        'node-bare': {},
        'node-odd': { 'topology.kubernetes.io/zone': 'b/c' },
      };
      const server = https.createServer({ key: fs.readFileSync(path.join(tmp.dir, 'key.pem')), cert: fs.readFileSync(path.join(tmp.dir, 'cert.pem')) }, (req, res) => {
        if (req.headers.authorization !== 'Bearer pod-token') return void res.writeHead(403).end('{"reason":"Forbidden"}');
        const name = /^\/api\/v1\/nodes\/([^/]+)$/.exec(req.url ?? '')?.[1];
        const labels = name === undefined ? undefined : nodes[decodeURIComponent(name)];
        if (!labels) return void res.writeHead(404).end('{"reason":"NotFound"}');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Node', metadata: { name, labels } }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const api = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const zoneOf = async (node: string) => {
          const file = path.join(tmp.dir, `zone-${node}`);
          fs.rmSync(file, { force: true });
          const r = await runScript('zone-from-node.mjs', [file, '--api', api, '--account-dir', account], { NODE_NAME: node });
          return { ...r, zone: fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined };
        };
        expect(await zoneOf('node-b')).toMatchObject({ code: 0, zone: 'b' });
        const bare = await zoneOf('node-bare');
        expect(bare).toMatchObject({ code: 0, zone: '' });
        expect(bare.out).toContain('has no topology.kubernetes.io/zone label');
        const odd = await zoneOf('node-odd');
        expect(odd).toMatchObject({ code: 1, zone: undefined });
        expect(odd.out).toContain("'b/c' is not a label value PERCOLATE_ZONE accepts");
        const missing = await zoneOf('node-gone');
        expect(missing).toMatchObject({ code: 1, zone: undefined });
        expect(missing.out).toContain('HTTP 404');
        fs.writeFileSync(path.join(account, 'token'), 'another-token');
        const refused = await zoneOf('node-b');
        expect(refused.code).toBe(1);
        expect(refused.out).toContain('HTTP 403');
        // a server whose certificate the account's CA did not sign is refused
        fs.writeFileSync(path.join(account, 'token'), 'pod-token');
        execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=other',
          '-keyout', path.join(tmp.dir, 'other-key.pem'), '-out', path.join(account, 'ca.crt')], { stdio: 'ignore' });
        const untrusted = await zoneOf('node-b');
        expect(untrusted.code).toBe(1);
        expect(untrusted.zone).toBeUndefined();
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      await tmp.cleanup();
    }
  });
});

describe("the snapshot CronJob's script, against a real node", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  });

  it('snapshots every hot and warm tenant of the nodes, with an admin token for every tenant', async () => {
    const s3 = await startS3();
    cleanups.push(() => s3.cleanup());
    const data = await tempDir('percolate-manifests-node-');
    cleanups.push(() => data.cleanup());
    const keysFile = path.join(data.dir, 'secret', 'jwks.json');
    await addKeyToFile(keysFile, await generateJwk('EdDSA'));
    const ring = await KeyRing.fromJwks(await readJwksFile(keysFile), keysFile);
    const token = (tenant: string, scope: Scope) => mintToken(ring, { tenant, scope, ttlS: 600, sub: 'manifests-test', audience: 'percolate' });
    const node = await spawnService('services/api/main.ts', {
      PORT: '0',
      PERCOLATE_DATA_DIR: path.join(data.dir, 'node'),
      PERCOLATE_NODE_ID: 'db-0',
      PERCOLATE_AUTH: 'required',
      PERCOLATE_AUTH_KEYS_FILE: keysFile,
      PERCOLATE_SNAPSHOTS: 'on',
      ...s3.env,
    });
    cleanups.push(() => node.kill());
    const tenants = ['acme', 'hooli'];
    for (const tenant of tenants) {
      const r = await callUrl(node.url, 'POST', '/api/v1/resources', { tenant, headers: { authorization: `Bearer ${await token(tenant, 'rw')}` }, body: { uri: 'doc://1', content: `a document of ${tenant}` } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const snapshotsOf = async (tenant: string) =>
      ((await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `tenants/${tenant}/snapshots/` }))).Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('/manifest.json'));
    for (const tenant of tenants) expect(await snapshotsOf(tenant)).toEqual([]);
    const port = new URL(node.url).port;

    // a token that is not an admin one for every tenant lists nothing: the pass fails, and says why
    const refused = await runScript('snapshot-tenants.mjs', ['--nodes', '127.0.0.1', '--port', port], { PERCOLATE_API_TOKEN: await token('acme', 'admin') });
    expect(refused.code, refused.out).toBe(1);
    expect(refused.out).toContain('GET /api/v1/admin/tenants: HTTP 403');

    const done = await runScript('snapshot-tenants.mjs', ['--nodes', '127.0.0.1', '--port', port], { PERCOLATE_API_TOKEN: await token('*', 'admin') });
    expect(done.code, done.out).toBe(0);
    expect(JSON.parse(done.out.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'snapshot pass done', tenants: 2, completed: 2, failed: 0 });
    for (const tenant of tenants) expect((await snapshotsOf(tenant)).length, tenant).toBe(1);
    // the token never appears in what the script prints
    expect(done.out).not.toContain((await token('*', 'admin')).split('.')[2]);
  });
});

/** A Kubernetes quantity (1Gi, 50Gi, 512Mi, 2) in bytes or units. */
function parseQuantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`quantity ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * unit;
}

// The KEDA ScaledObjects of a tier (keda/<tier>/scaledobjects.yaml), read for the local topology's autoscaler: the
// fields KEDA acts on (target, pollingInterval, cooldownPeriod, min/max replicas, triggers), with KEDA's defaults for
// the ones left out, and the triggers the topology can evaluate: prometheus queries of the shapes
// `sum(metric{label="v",...})` and `sum(rate(metric{...}[2m]))`, and nats-jetstream consumer lag. Anything else is
// refused with an error naming the file and the trigger, rather than scaled on silently.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Component = 'database' | 'worker';

export type PromQuery =
  | { kind: 'sum' | 'max'; metric: string; labels: Record<string, string> }
  | { kind: 'sum-rate'; metric: string; labels: Record<string, string>; windowS: number };

export type Trigger =
  | { type: 'prometheus'; query: string; parsed: PromQuery; threshold: number; activationThreshold: number }
  | { type: 'nats-jetstream'; account: string; stream: string; consumer: string; lagThreshold: number; activationLagThreshold: number };

export interface ScaledObject {
  name: string;
  component: Component;
  target: { kind: string; name: string };
  pollingIntervalS: number;
  cooldownPeriodS: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  triggers: Trigger[];
}

/** KEDA's defaults for fields a ScaledObject leaves out. */
export const KEDA_DEFAULTS = { pollingIntervalS: 30, cooldownPeriodS: 300, minReplicaCount: 0, maxReplicaCount: 100 } as const;

const METRIC = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABELS = '(?:\\{([^}]*)\\})?';
const SUM = new RegExp(`^(sum|max)\\(\\s*(${METRIC})\\s*${LABELS}\\s*\\)$`);
const SUM_RATE = new RegExp(`^sum\\(\\s*rate\\(\\s*(${METRIC})\\s*${LABELS}\\s*\\[(\\d+)([smh])\\]\\s*\\)\\s*\\)$`);
const UNIT_S = { s: 1, m: 60, h: 3600 } as const;

function parseLabels(text: string | undefined, query: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text || text.trim() === '') return out;
  for (const part of text.split(',')) {
    const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (!m) throw new Error(`label matcher '${part.trim()}' of '${query}' is not name="value" (only equality matchers are evaluated)`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** The two query shapes the topology evaluates; any other query is an error. */
export function parsePromQuery(query: string): PromQuery {
  const q = query.trim();
  const rate = SUM_RATE.exec(q);
  if (rate) return { kind: 'sum-rate', metric: rate[1]!, labels: parseLabels(rate[2], q), windowS: Number(rate[3]) * UNIT_S[rate[4] as keyof typeof UNIT_S] };
  const sum = SUM.exec(q);
  if (sum) return { kind: sum[1] as 'sum' | 'max', metric: sum[2]!, labels: parseLabels(sum[3], q) };
  throw new Error(`prometheus query '${q}' is not of a shape the local topology evaluates: sum(metric{label="v"}), max(metric{label="v"}) or sum(rate(metric{label="v"}[<n>s|m|h]))`);
}

function num(v: unknown, what: string, fallback?: number): number {
  if (v === undefined || v === null || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${what} is missing`);
  }
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

function parseTrigger(t: any, where: string): Trigger {
  const md = t?.metadata ?? {};
  if (t?.type === 'prometheus') {
    const query = String(md.query ?? '');
    const threshold = num(md.threshold, `${where}: threshold`);
    if (threshold <= 0) throw new Error(`${where}: threshold must be above 0`);
    return { type: 'prometheus', query, parsed: parsePromQuery(query), threshold, activationThreshold: num(md.activationThreshold, `${where}: activationThreshold`, 0) };
  }
  if (t?.type === 'nats-jetstream') {
    if (!md.stream || !md.consumer) throw new Error(`${where}: stream and consumer are required`);
    const lagThreshold = num(md.lagThreshold, `${where}: lagThreshold`);
    if (lagThreshold <= 0) throw new Error(`${where}: lagThreshold must be above 0`);
    return {
      type: 'nats-jetstream',
      account: String(md.account ?? '$G'),
      stream: String(md.stream),
      consumer: String(md.consumer),
      lagThreshold,
      activationLagThreshold: num(md.activationLagThreshold, `${where}: activationLagThreshold`, 0),
    };
  }
  throw new Error(`${where}: trigger type '${t?.type}' is not evaluated by the local topology (prometheus and nats-jetstream are)`);
}

/** Parses the ScaledObjects of one YAML text (other kinds of document are skipped). */
export function parseScaledObjects(text: string, file: string): ScaledObject[] {
  const out: ScaledObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as any;
    if (!o || o.kind !== 'ScaledObject') continue;
    if (o.apiVersion !== 'keda.sh/v1alpha1') throw new Error(`${file}: ScaledObject apiVersion must be keda.sh/v1alpha1, got ${o.apiVersion}`);
    const name = String(o.metadata?.name ?? '');
    const component = o.metadata?.labels?.['app.kubernetes.io/component'];
    if (component !== 'database' && component !== 'worker') throw new Error(`${file}: ScaledObject ${name} needs label app.kubernetes.io/component database or worker, got ${component}`);
    const spec = o.spec ?? {};
    const where = `${file}: ScaledObject ${name}`;
    const triggers = ((spec.triggers ?? []) as unknown[]).map((t, i) => parseTrigger(t, `${where} trigger ${i}`));
    if (triggers.length === 0) throw new Error(`${where} has no triggers`);
    const so: ScaledObject = {
      name,
      component,
      target: { kind: String(spec.scaleTargetRef?.kind ?? 'Deployment'), name: String(spec.scaleTargetRef?.name ?? '') },
      pollingIntervalS: num(spec.pollingInterval, `${where}: pollingInterval`, KEDA_DEFAULTS.pollingIntervalS),
      cooldownPeriodS: num(spec.cooldownPeriod, `${where}: cooldownPeriod`, KEDA_DEFAULTS.cooldownPeriodS),
      minReplicaCount: num(spec.minReplicaCount, `${where}: minReplicaCount`, KEDA_DEFAULTS.minReplicaCount),
      maxReplicaCount: num(spec.maxReplicaCount, `${where}: maxReplicaCount`, KEDA_DEFAULTS.maxReplicaCount),
      triggers,
    };
    if (so.maxReplicaCount < so.minReplicaCount) throw new Error(`${where}: maxReplicaCount is below minReplicaCount`);
    out.push(so);
  }
  return out;
}

/** keda/<tier>/scaledobjects.yaml: one ScaledObject per component, both required. */
export function loadScaledObjects(kedaDir: string, tier: string): Record<Component, ScaledObject> {
  const file = path.join(kedaDir, tier, 'scaledobjects.yaml');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const all = parseScaledObjects(text, file);
  const pick = (c: Component) => {
    const found = all.filter((s) => s.component === c);
    if (found.length !== 1) throw new Error(`${file}: expected one ScaledObject with app.kubernetes.io/component ${c}, found ${found.length}`);
    return found[0]!;
  };
  return { database: pick('database'), worker: pick('worker') };
}

// The topology's KEDA semantics without processes: the ScaledObjects of keda/ for every tier, the query shapes the
// topology evaluates (others refused), and the scaling loop on a fake clock: activation, ceil(value / threshold)
// clamped to [max(1, min), max], the HPA's scale-down stabilization, the cooldown to zero, and rate() over a window.
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { Autoscaler } from '../test-topology/autoscaler.js';
import { MetricSources, parsePrometheusText } from '../test-topology/metric-sources.js';
import { loadScaledObjects, parsePromQuery, parseScaledObjects, type ScaledObject } from '../test-topology/scaled-objects.js';
import { REPO_ROOT } from './support/process.js';

describe('ScaledObjects of keda/', () => {
  it('reads both objects of every tier with the contract values', () => {
    for (const [tier, dbMax, workerMax] of [['small', 10, 5], ['medium', 20, 10], ['large', 30, 15]] as const) {
      const { database, worker } = loadScaledObjects(path.join(REPO_ROOT, 'keda'), tier);
      expect(database).toMatchObject({ target: { kind: 'StatefulSet', name: `percolate-db-${tier}` }, pollingIntervalS: 15, cooldownPeriodS: 300, minReplicaCount: 0, maxReplicaCount: dbMax });
      expect(worker).toMatchObject({ target: { kind: 'Deployment', name: `percolate-worker-${tier}` }, pollingIntervalS: 5, cooldownPeriodS: 60, minReplicaCount: 0, maxReplicaCount: workerMax });
      expect(database.triggers).toEqual([
        expect.objectContaining({ parsed: { kind: 'sum', metric: 'percolate_active_tenants', labels: { tier } }, threshold: 5, activationThreshold: 0 }),
        expect.objectContaining({ parsed: { kind: 'sum-rate', metric: 'istio_requests_total', labels: { reporter: 'source', destination_service_name: `percolate-db-${tier}` }, windowS: 120 }, threshold: 1_000_000 }),
      ]);
      expect(worker.triggers).toEqual([
        expect.objectContaining({ type: 'nats-jetstream', account: '$G', stream: 'PERCOLATE_JOBS', consumer: `workers-${tier}`, lagThreshold: 5, activationLagThreshold: 0 }),
        expect.objectContaining({ parsed: { kind: 'max', metric: 'percolate_jobs_pending', labels: { tier } }, threshold: 5 }),
      ]);
    }
  });

  it('refuses queries and triggers the topology cannot evaluate, naming them', () => {
    expect(() => parsePromQuery('avg(percolate_active_tenants)')).toThrow(/not of a shape the local topology evaluates/);
    expect(() => parsePromQuery('sum(percolate_active_tenants{tier=~"s.*"})')).toThrow(/only equality matchers/);
    expect(() => parsePromQuery('sum(rate(x[2m])) by (tier)')).toThrow(/not of a shape/);
    const doc = (trigger: string) =>
      `apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/component: worker\nspec:\n  scaleTargetRef:\n    name: w\n  triggers:\n${trigger}`;
    expect(() => parseScaledObjects(doc('    - type: kafka\n      metadata: {}\n'), 'f.yaml')).toThrow(/f.yaml: ScaledObject x trigger 0: trigger type 'kafka' is not evaluated/);
    expect(() => parseScaledObjects(doc('    - type: prometheus\n      metadata:\n        query: "sum(a)"\n        threshold: "0"\n'), 'f.yaml')).toThrow(/threshold must be above 0/);
    // KEDA's defaults for what is left out
    expect(parseScaledObjects(doc('    - type: prometheus\n      metadata:\n        query: "sum(a)"\n        threshold: "2"\n'), 'f.yaml')[0]).toMatchObject({ pollingIntervalS: 30, cooldownPeriodS: 300, minReplicaCount: 0, maxReplicaCount: 100 });
  });
});

function fakeObject(o: Partial<ScaledObject> = {}): ScaledObject {
  return {
    name: 'w',
    component: 'worker',
    target: { kind: 'Deployment', name: 'w' },
    pollingIntervalS: 5,
    cooldownPeriodS: 60,
    minReplicaCount: 0,
    maxReplicaCount: 5,
    triggers: [
      { type: 'prometheus', query: 'sum(a)', parsed: { kind: 'sum', metric: 'a', labels: {} }, threshold: 5, activationThreshold: 0 },
      { type: 'prometheus', query: 'sum(b)', parsed: { kind: 'sum', metric: 'b', labels: {} }, threshold: 10, activationThreshold: 3 },
    ],
    ...o,
  };
}

function harness(so: ScaledObject) {
  let now = 1_000_000;
  const values: Record<string, number> = { a: 0, b: 0 };
  const target = { replicas: 0, scaleTo: (n: number) => (target.replicas = n) };
  const sources = { value: async (t: { parsed: { metric: string } }) => values[t.parsed.metric]! } as unknown as MetricSources;
  const a = new Autoscaler(so, sources, target, { timeScale: 1, apply: true, log: () => undefined, now: () => now });
  return { a, target, values, advance: (s: number) => (now += s * 1000) };
}

describe('the scaling loop (KEDA + HPA semantics)', () => {
  it('is active above an activation threshold, asks ceil(value / threshold) of the largest trigger, clamped to max', async () => {
    const h = harness(fakeObject());
    h.values.b = 3; // equal to its activation threshold: not active
    expect(await h.a.poll()).toMatchObject({ active: false, desired: 0 });
    h.values.a = 20;
    expect(await h.a.poll()).toMatchObject({ active: true, desired: 4 });
    expect(h.target.replicas).toBe(4);
    h.values.a = 1000;
    expect((await h.a.poll()).desired).toBe(5);
    h.values.a = 0;
    h.values.b = 41; // b alone: ceil(41 / 10) = 5
    expect((await h.a.poll()).desired).toBe(5);
  });

  it('keeps the highest count of the stabilization window while active, scales to zero only after the cooldown', async () => {
    const h = harness(fakeObject());
    h.values.a = 20;
    await h.a.poll();
    h.values.a = 1; // still active: ceil(1/5) = 1, but the HPA keeps 4 for its 300 s window
    h.advance(100);
    expect((await h.a.poll()).desired).toBe(4);
    h.advance(201);
    expect((await h.a.poll()).desired).toBe(1);
    h.values.a = 0; // inactive: kept until cooldownPeriod (60 s) after the last active poll
    h.advance(59);
    expect((await h.a.poll()).desired).toBe(1);
    h.advance(1);
    expect((await h.a.poll()).desired).toBe(0);
    expect(h.target.replicas).toBe(0);
    expect(h.a.peak).toBe(4);
  });

  it('keeps the replicas running at start through the stabilization window and the cooldown', async () => {
    let now = 0;
    const target = { replicas: 3, scaleTo: (n: number) => (target.replicas = n) };
    const sources = { value: async () => 0 } as unknown as MetricSources;
    const a = new Autoscaler(fakeObject({ cooldownPeriodS: 600 }), sources, target, { timeScale: 1, apply: true, log: () => undefined, now: () => now });
    expect((await a.poll()).desired).toBe(3);
    now = 301_000; // past the 300 s window, inside the cooldown: the HPA's floor
    expect((await a.poll()).desired).toBe(1);
    now = 600_000;
    expect((await a.poll()).desired).toBe(0);
  });

  it('wakes from zero at max(1, min) and honours minReplicaCount', async () => {
    const h = harness(fakeObject({ minReplicaCount: 2, maxReplicaCount: 3 }));
    h.values.a = 0.001;
    expect((await h.a.poll()).desired).toBe(2);
    h.values.a = 0;
    h.advance(61);
    expect((await h.a.poll()).desired).toBe(2);
  });

  it('computes rate() over the window from counter samples, through counter resets', async () => {
    let now = 0;
    let counter = 0;
    const s = new MetricSources({ scrapeTargets: () => [], natsMonitors: () => [], counter: async () => counter, now: () => now });
    const t = { type: 'prometheus' as const, query: '', parsed: parsePromQuery('sum(rate(c{x="y"}[10s]))'), threshold: 1, activationThreshold: 0 };
    expect(await s.value(t)).toBe(0); // one sample: no rate yet
    now = 5_000;
    counter = 50;
    expect(await s.value(t)).toBe(10);
    now = 10_000;
    counter = 20; // reset: 20 since
    expect(await s.value(t)).toBe(7);
    now = 30_000; // the old samples leave the window: no increase in the last two
    expect(await s.value(t)).toBe(0);
  });

  it('parses the Prometheus text of the services', () => {
    const samples = parsePrometheusText('# HELP x\nx{tier="small",a="q\\"uote"} 3\ny 4.5\nbad line\n');
    expect(samples).toEqual([
      { name: 'x', labels: { tier: 'small', a: 'q"uote' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
    ]);
  });
});

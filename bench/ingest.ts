// Ingest benchmark: upload throughput through the gateway against a direct multipart Upload to the same S3 server,
// with peak RSS, and worker throughput (pages/s, chunks/s, time per stage) for a PDF and a Markdown document.
//
//   npm run bench:ingest              # 1 GiB uploads, a 200-page PDF, 8 MiB of Markdown (about two minutes)
//   npm run bench:ingest -- --quick   # 256 MiB uploads, a 40-page PDF, 1 MiB of Markdown
//   npm run bench:ingest -- --quick --count 32   # --count sets the upload size in MiB (the CI smoke run uses 32)
//
// Everything runs on loopback on this machine: nats-server, s3rver (scripts/s3-server.ts), the gateway, a worker and
// a database node as child processes. Upload bodies are generated block by block (never on disk); the direct Upload
// reads the same generator in this process with the gateway's client settings, part size and queue size. The two
// paths alternate three times; times are medians and the ratio is the median of the per-run ratios (each run sees
// the same machine load on both paths). Worker stage times come from the worker's own metrics.
import os from 'node:os';
import { Readable } from 'node:stream';
import { createS3Client, putStream } from '../shared/blob/s3.js';
import { loadGatewayConfig } from '../shared/config/ingest-config.js';
import { startNats } from '../test/support/nats.js';
import { makePdf } from '../test/support/pdf.js';
import { spawnService, type ServiceProcess } from '../test/support/process.js';
import { startS3 } from '../test/support/s3.js';
import { cpuSeconds, withPeakRss } from '../test/support/proc.js';
import { tempDir } from '../test/support/tmp.js';
import { streamUpload, textBlocks } from '../test/support/upload-stream.js';
import { log, machineInfo, markdownTable, parseArgs, percentile, writeResults, type Cell } from './report.js';

const MiB = 2 ** 20;
const TARGET_RATIO = 0.8;
const UPLOAD_TIER = 'bulk';
const STAGES = ['download', 'parse', 'chunk', 'extract', 'write'] as const;

const args = parseArgs();
const UPLOAD_BYTES = (args.count ?? (args.quick ? 256 : 1024)) * MiB;
const UPLOAD_REPS = 3;
const PDF_PAGES = args.quick ? 40 : 200;
const MARKDOWN_BYTES = (args.quick ? 1 : 8) * MiB;

const mb = (bytes: number) => bytes / 1e6;
const median = (xs: number[]) => percentile(xs, 50);
const r2 = (x: number) => Math.round(x * 100) / 100;

type UploadPath = 'direct' | 'gateway';

interface UploadSample {
  seconds: number;
  baseline: number;
  peak: number;
  cpu: { client: number; gateway: number; s3: number };
}

interface UploadRow {
  path: string;
  mib: number;
  /** Median over the repetitions; every repetition in seconds_all. */
  seconds: number;
  seconds_all: number[];
  mb_per_s: number;
  /** RSS of the uploading process before the first repetition, its highest peak over all, and the difference. */
  rss_baseline_mb: number;
  rss_peak_mb: number;
  rss_growth_mb: number;
  /** Median CPU seconds per repetition of the client (this process), the gateway and s3rver. */
  cpu_client_s: number;
  cpu_gateway_s: number;
  cpu_s3_s: number;
}

interface WorkerRow {
  document: string;
  input_mib: number;
  pages: number | null;
  chunks: number;
  entities: number;
  seconds: number;
  pages_per_s: number | null;
  chunks_per_s: number;
  stage_seconds: Record<string, number>;
}

/** Sum of percolate_ingest_stage_duration_seconds by stage, from the worker's /metrics. */
async function stageSums(workerUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${workerUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^percolate_ingest_stage_duration_seconds_sum\{stage="(\w+)"\} ([\d.e+-]+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function waitJob(gatewayUrl: string, tenant: string, id: string): Promise<any> {
  for (;;) {
    const res = await fetch(`${gatewayUrl}/jobs/${id}`, { headers: { 'x-tenant-id': tenant } });
    const body = (await res.json()) as any;
    if (body.status === 'completed') return body;
    if (body.status === 'failed') throw new Error(`job ${id} failed: ${body.error}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const tmp = await tempDir('percolate-bench-ingest-');
  const [nats, s3] = await Promise.all([startNats(), startS3('bench')]);
  const services: ServiceProcess[] = [];
  try {
    const env = { ...s3.env, PERCOLATE_NATS_URL: nats.url, LOG_LEVEL: 'warn' };
    const node = await spawnService('services/api/main.ts', { PORT: '0', PERCOLATE_DATA_DIR: `${tmp.dir}/node`, LOG_LEVEL: 'info' });
    services.push(node);
    // upload-only jobs go to a tier no worker consumes, so no parsing competes with the upload measurements
    const gatewayEnv = { ...env, PERCOLATE_JOB_TIERS: `small,${UPLOAD_TIER}` };
    const gateway = await spawnService('services/gateway/main.ts', { ...gatewayEnv, PERCOLATE_GATEWAY_PORT: '0', LOG_LEVEL: 'info' });
    services.push(gateway);
    const gcfg = loadGatewayConfig(gatewayEnv);
    const uploadFields = { tier: UPLOAD_TIER };

    // ---- uploads: direct Upload vs through the gateway, alternating ----
    // the same client configuration as the gateway's, so the comparison measures the gateway hop and nothing else
    const client = createS3Client(gcfg.s3);
    log(`warm-up uploads (${gcfg.uploadPartBytes / MiB} MiB parts, ${gcfg.uploadQueueSize} in flight)`);
    await putStream(client, s3.bucket, 'bench/warmup', Readable.from(textBlocks(32 * MiB)), { partBytes: gcfg.uploadPartBytes, queueSize: gcfg.uploadQueueSize });
    await streamUpload(gateway.url, 'bench', 'warmup.txt', textBlocks(32 * MiB), uploadFields);
    const pids = { client: process.pid, gateway: gateway.child.pid!, s3: s3.process.child.pid! };
    const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])) as Record<keyof typeof pids, number>;
    const samples: Record<UploadPath, UploadSample[]> = { direct: [], gateway: [] };
    const measure = async (path: UploadPath, pid: number, run: () => Promise<unknown>) => {
      const cpu0 = cpuNow();
      const t = performance.now();
      const { baseline, peak } = await withPeakRss(pid, run);
      const seconds = (performance.now() - t) / 1000;
      const cpu1 = cpuNow();
      const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, cpu1[k as keyof typeof pids] - cpu0[k as keyof typeof pids]])) as Record<keyof typeof pids, number>;
      samples[path].push({ seconds, baseline, peak, cpu });
    };
    for (let rep = 1; rep <= UPLOAD_REPS; rep++) {
      log(`direct Upload of ${UPLOAD_BYTES / MiB} MiB (rep ${rep}/${UPLOAD_REPS})`);
      await measure('direct', process.pid, () =>
        putStream(client, s3.bucket, `bench/direct-${rep}`, Readable.from(textBlocks(UPLOAD_BYTES)), { partBytes: gcfg.uploadPartBytes, queueSize: gcfg.uploadQueueSize }),
      );
      log(`gateway upload of ${UPLOAD_BYTES / MiB} MiB (rep ${rep}/${UPLOAD_REPS})`);
      await measure('gateway', gateway.child.pid!, async () => {
        const res = await streamUpload(gateway.url, 'bench', `upload-${rep}.txt`, textBlocks(UPLOAD_BYTES), uploadFields);
        if (res.status !== 202) throw new Error(`gateway upload answered ${res.status}: ${JSON.stringify(res.body)}`);
      });
    }
    client.destroy();
    const uploadRow = (path: UploadPath, label: string): UploadRow => {
      const runs = samples[path];
      const seconds = median(runs.map((r) => r.seconds));
      const baseline = runs[0]!.baseline;
      const peak = Math.max(...runs.map((r) => r.peak));
      const cpu = (k: keyof UploadSample['cpu']) => median(runs.map((r) => r.cpu[k]));
      return {
        path: label,
        mib: UPLOAD_BYTES / MiB,
        seconds,
        seconds_all: runs.map((r) => r.seconds),
        mb_per_s: mb(UPLOAD_BYTES) / seconds,
        rss_baseline_mb: mb(baseline),
        rss_peak_mb: mb(peak),
        rss_growth_mb: mb(peak - baseline),
        cpu_client_s: cpu('client'),
        cpu_gateway_s: cpu('gateway'),
        cpu_s3_s: cpu('s3'),
      };
    };
    const directRow = uploadRow('direct', 'direct Upload (this process)');
    const gatewayRow = uploadRow('gateway', 'gateway POST /upload (gateway process)');
    // each repetition runs both paths back to back, so its ratio sees the same machine load; the median of those
    const ratio = median(samples.gateway.map((g, i) => samples.direct[i]!.seconds / g.seconds));

    // ---- worker throughput: PDF and Markdown, one job at a time ----
    const worker = await spawnService('services/worker/main.ts', { ...env, PERCOLATE_API_URL: node.url, PERCOLATE_WORKER_PORT: '0', LOG_LEVEL: 'info' });
    services.push(worker);
    const workerRows: WorkerRow[] = [];
    const filler = (p: number) =>
      Array.from({ length: 28 }, (_, i) => `Line ${i} of page ${p}: Meridian Harbour logged cargo ${p * 100 + i} for Hal Sorensen of the Port Authority.`).join('\n');
    log(`making a ${PDF_PAGES}-page PDF`);
    const pdf = await makePdf(tmp.dir, 'bench', Array.from({ length: PDF_PAGES }, (_, p) => filler(p + 1)));
    const paragraph = (i: number) =>
      `Paragraph ${i} of the handbook explains how Percolate stores resources, entities and moments for agents; see https://example.org/doc/${i % 50} or ask Ada Lovelace. #memory`;
    let markdown = '';
    for (let i = 0; markdown.length < MARKDOWN_BYTES; i++) markdown += (i % 20 === 0 ? `\n## Section ${i / 20}\n\n` : '') + paragraph(i) + '\n\n';
    const docs: [string, string, Buffer][] = [
      [`PDF, ${PDF_PAGES} pages`, 'bench.pdf', pdf],
      [`Markdown, ${(MARKDOWN_BYTES / MiB).toFixed(0)} MiB`, 'handbook.md', Buffer.from(markdown)],
    ];
    for (const [label, name, data] of docs) {
      log(`worker: ${label}`);
      const before = await stageSums(worker.url);
      const up = await streamUpload(gateway.url, 'bench-worker', name, Readable.from([data]));
      if (up.status !== 202) throw new Error(`upload of ${name} answered ${up.status}`);
      const job = await waitJob(gateway.url, 'bench-worker', up.body.job_id);
      const after = await stageSums(worker.url);
      const stageSeconds = Object.fromEntries(STAGES.map((s) => [s, (after[s] ?? 0) - (before[s] ?? 0)]));
      const seconds = STAGES.reduce((sum, s) => sum + stageSeconds[s]!, 0);
      const pages = name.endsWith('.pdf') ? PDF_PAGES : null;
      workerRows.push({
        document: label,
        input_mib: data.length / MiB,
        pages,
        chunks: job.resources,
        entities: job.entities,
        seconds,
        pages_per_s: pages === null ? null : pages / seconds,
        chunks_per_s: job.resources / seconds,
        stage_seconds: stageSeconds,
      });
    }

    const uploadRows = [directRow, gatewayRow];
    const table = [
      '# Ingest benchmark',
      '',
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}. Everything on loopback: nats-server, s3rver, gateway, worker, database node (hash embedder).`,
      '',
      `## Uploads (${UPLOAD_BYTES / MiB} MiB generated text, ${gcfg.uploadPartBytes / MiB} MiB parts, ${gcfg.uploadQueueSize} in flight, median of ${UPLOAD_REPS} alternating runs)`,
      '',
      markdownTable(
        ['path', 'MiB', 'seconds', 'MB/s', 'RSS before MB', 'peak RSS MB', 'peak growth MB', 'CPU s client', 'CPU s gateway', 'CPU s s3rver'],
        uploadRows.map((r): Cell[] => [r.path, r.mib, r.seconds, r.mb_per_s, r.rss_baseline_mb, r.rss_peak_mb, r.rss_growth_mb, r.cpu_client_s, r.cpu_gateway_s, r.cpu_s3_s]),
      ),
      '',
      `Gateway / direct throughput: **${ratio.toFixed(2)}** (median of the per-run ratios; target ≥ ${TARGET_RATIO}). Runs: direct ${directRow.seconds_all.map((x) => x.toFixed(1)).join(', ')} s; gateway ${gatewayRow.seconds_all.map((x) => x.toFixed(1)).join(', ')} s. The gateway parses the multipart stream, hashes it (sha256) and sniffs its type on top of the same multipart Upload; client, gateway and s3rver share the 2 cores, so the gateway path has a third process competing for them.`,
      '',
      '## Worker (one job at a time, chunks of 1000 characters with 150 overlap, batches of 500)',
      '',
      markdownTable(
        ['document', 'input MiB', 'pages', 'chunks', 'entities', 'seconds', 'pages/s', 'chunks/s', ...STAGES.map((s) => `${s} s`)],
        workerRows.map((r): Cell[] => [r.document, r.input_mib, r.pages, r.chunks, r.entities, r.seconds, r.pages_per_s, r.chunks_per_s, ...STAGES.map((s) => r.stage_seconds[s])]),
      ),
      '',
      'Seconds are the sum of the worker\'s stage timings (download from S3 to the ingestion moment written); `write` includes the database node embedding and indexing every chunk.',
    ].join('\n');
    writeResults(args.quick ? 'ingest-quick' : 'ingest', {
      meta: { machine, quick: args.quick, upload_bytes: UPLOAD_BYTES, upload_reps: UPLOAD_REPS, load_average: os.loadavg(), part_bytes: gcfg.uploadPartBytes, queue_size: gcfg.uploadQueueSize, ratio: r2(ratio), target_ratio: TARGET_RATIO },
      rows: [...uploadRows.map((r) => ({ section: 'upload', ...r })), ...workerRows.map((r) => ({ section: 'worker', ...r }))],
      table,
    });
  } finally {
    for (const s of services.reverse()) await s.kill();
    await Promise.all([s3.cleanup(), nats.cleanup(), tmp.cleanup()]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

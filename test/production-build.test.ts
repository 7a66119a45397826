// The production build and the images, without a Docker engine: the Dockerfile read as data (three targets on a Node 24
// slim base, uid 10001, /data, exec-form CMDs whose ports match the services' defaults, COPY sources that exist and
// that .dockerignore lets through), then its COPY lines replayed into temporary directories: the build stage's files
// alone compile with `npm run build`, the runtime stage gets package.json, dist/ and a node_modules holding only the
// production packages, and every CMD runs there with plain node (a loader hook records every module: no .ts file, no
// tsx, nothing from the source tree) on a layout the services cannot write to (as uid 10001 when the test runs as
// root, else read-only modes), with data in a temporary /data: health, a write and a read with a token minted by the
// compiled CLI, an upload through the gateway that the worker ingests, the preStop drain script, SIGTERM exit 0.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config/config.js';
import { loadGatewayConfig, loadWorkerConfig } from '../shared/config/ingest-config.js';
import { startNats } from './support/nats.js';
import { freePort } from './support/ports.js';
import { REPO_ROOT } from './support/process.js';
import { startS3 } from './support/s3.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const execFileP = promisify(execFile);
const TARGETS = ['api', 'gateway', 'worker'] as const;
type Target = (typeof TARGETS)[number];
/** The image's user (Dockerfile: useradd --uid 10001). */
const IMAGE_UID = 10001;

// ---------------------------------------------------------------------------------------------------------------
// The Dockerfile as data

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string | undefined;
  /** The FROM image with ARG defaults substituted (another stage's name when it builds on one). */
  base: string;
  instructions: Instruction[];
}

/** Instructions per stage: comments dropped, `\` continuations joined (comment lines inside them skipped, as Docker does). */
function parseDockerfile(text: string): { stages: Stage[]; args: Map<string, string> } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const start = i + 1;
    while (line.endsWith('\\')) {
      line = line.slice(0, -1);
      let next = lines[++i];
      while (next !== undefined && next.trim().startsWith('#')) next = lines[++i];
      if (next === undefined) throw new Error(`Dockerfile:${start}: continuation at end of file`);
      line += ' ' + next.trim();
    }
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim(), line: start });
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?: AS (\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: FROM ${ins.args}`);
      const base = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
        const v = args.get((a ?? b)!);
        if (v === undefined) throw new Error(`Dockerfile:${ins.line}: ARG ${a ?? b} has no default`);
        return v;
      });
      stages.push({ name: m[2], base, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile:${ins.line}: ${ins.keyword} before the first FROM`);
      const m = /^(\w+)(?:=(\S+))?$/.exec(ins.args)!;
      if (m[2] !== undefined) args.set(m[1]!, m[2]);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { stages, args };
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));

function stage(name: string): Stage {
  const s = dockerfile.stages.find((st) => st.name === name);
  if (!s) throw new Error(`the Dockerfile has no stage ${name}`);
  return s;
}

/** The stage and the stages it builds on, the base first (what a target inherits: ENV, WORKDIR, USER). */
function chain(name: string): Stage[] {
  const out: Stage[] = [];
  for (let s: Stage | undefined = stage(name); s; s = dockerfile.stages.find((st) => st.name === s!.base)) out.unshift(s);
  return out;
}

function instructionsOf(name: string, keyword: string): Instruction[] {
  return chain(name).flatMap((s) => s.instructions.filter((i) => i.keyword === keyword));
}

function lastOf(name: string, keyword: string): string | undefined {
  return instructionsOf(name, keyword).at(-1)?.args;
}

/** ENV of a target: `KEY=value` pairs (plain or double-quoted values). */
function envOf(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of instructionsOf(name, 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** CMD in exec form (JSON): node is PID 1 and gets SIGTERM itself; a shell form would put /bin/sh in between. */
function cmdOf(target: Target): string[] {
  const raw = lastOf(target, 'CMD');
  if (raw === undefined) throw new Error(`target ${target} has no CMD`);
  const argv = JSON.parse(raw) as unknown;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error(`CMD of ${target} is not exec form: ${raw}`);
  return argv as string[];
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
  line: number;
}

function copiesOf(stageName: string): Copy[] {
  return stage(stageName)
    .instructions.filter((i) => i.keyword === 'COPY')
    .map((i) => {
      if (i.args.startsWith('[')) throw new Error(`Dockerfile:${i.line}: COPY in JSON form is not replayed by this test`);
      const words = i.args.split(' ');
      let from: string | undefined;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
        else if (!flag.startsWith('--chown=') && !flag.startsWith('--chmod=')) throw new Error(`Dockerfile:${i.line}: COPY ${flag} is not replayed by this test`);
      }
      const dest = words.pop()!;
      return { from, sources: words, dest, line: i.line };
    });
}

// ---------------------------------------------------------------------------------------------------------------
// .dockerignore

/** Docker's rules: patterns anchored at the context root, `*` and `?` within a segment, `**` any segments, `!` re-includes, last match wins; a pattern matching a directory excludes what is inside. */
function dockerignore(text: string): (rel: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === '*' && pattern[i + 1] === '*') {
          i++;
          if (pattern[i + 1] === '/') {
            i++;
            re += '(?:.*/)?';
          } else re += '.*';
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (rel: string) => {
    const parts = rel.split('/');
    let excluded = false;
    for (const { negate, re } of rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (re.test(parts.slice(0, n).join('/'))) {
          excluded = !negate;
          break;
        }
      }
    }
    return excluded;
  };
}

function filesUnder(rel: string): string[] {
  const abs = path.join(REPO_ROOT, rel);
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => (e.name === 'node_modules' ? [] : filesUnder(path.posix.join(rel, e.name))));
}

// ---------------------------------------------------------------------------------------------------------------
// Static checks

describe('Dockerfile', () => {
  it('has the targets api, gateway and worker on one runtime stage, built and run on a Node 24 slim image', () => {
    expect(stage('build').base).toMatch(/^node:24(\.\d+)*-[a-z]+-slim$/);
    expect(stage('runtime').base).toBe(stage('build').base);
    for (const t of TARGETS) expect(chain(t).map((s) => s.name)).toEqual(['runtime', t]);
  });

  it('runs every target as uid 10001 with /data a volume, temp files in /tmp, and only files of the build stage', () => {
    for (const t of TARGETS) {
      expect(lastOf(t, 'USER')).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
      expect(instructionsOf(t, 'VOLUME').map((v) => JSON.parse(v.args) as string[]).flat()).toEqual(['/data']);
      expect(envOf(t)).toMatchObject({ NODE_ENV: 'production', PERCOLATE_DATA_DIR: '/data', TMPDIR: '/tmp' });
      expect(lastOf(t, 'WORKDIR')).toBe('/app');
    }
    const runtime = copiesOf('runtime');
    expect(runtime.map((c) => c.from)).toEqual(runtime.map(() => 'build'));
    expect(runtime.flatMap((c) => c.sources).sort()).toEqual(['/app/dist', '/app/node_modules', '/app/package.json']);
    // the user is created with a home on the volume, and the root filesystem stays root's
    const run = instructionsOf('runtime', 'RUN').map((r) => r.args).join('\n');
    expect(run).toMatch(new RegExp(`useradd .*--uid ${IMAGE_UID}\\b`));
    expect(run).toMatch(new RegExp(`chown ${IMAGE_UID}:${IMAGE_UID} /data`));
    expect(stage('runtime').instructions.filter((i) => i.keyword === 'COPY' && /--chown|--chmod/.test(i.args))).toEqual([]);
  });

  it('builds with npm ci, npm run build and npm prune --omit=dev, onnxruntime-node downloading nothing', () => {
    const run = stage('build').instructions.filter((i) => i.keyword === 'RUN').map((r) => r.args);
    const at = (s: string) => run.findIndex((r) => r.includes(s));
    expect(at('npm ci')).toBeGreaterThanOrEqual(0);
    expect(at('npm run build')).toBeGreaterThan(at('npm ci'));
    expect(at('npm prune --omit=dev')).toBeGreaterThanOrEqual(at('npm run build'));
    expect(envOf('build').ONNXRUNTIME_NODE_INSTALL).toBe('skip');
    expect(fs.readFileSync(path.join(REPO_ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
  });

  it('starts each target with exec-form `node dist/services/<target>/main.js` and exposes its default port', () => {
    const ports: Record<Target, number> = { api: loadConfig({}).port, gateway: loadGatewayConfig({}).port, worker: loadWorkerConfig({}).port };
    for (const t of TARGETS) {
      expect(cmdOf(t)).toEqual(['node', `dist/services/${t}/main.js`]);
      expect(fs.existsSync(path.join(REPO_ROOT, `services/${t}/main.ts`))).toBe(true);
      expect(lastOf(t, 'EXPOSE')).toBe(String(ports[t]));
    }
  });

  it('copies into the build stage only files that exist and that .dockerignore lets into the context', () => {
    const ignored = dockerignore(fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8'));
    const copies = copiesOf('build').filter((c) => c.from === undefined);
    const sources = copies.flatMap((c) => c.sources);
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'tsconfig.build.json']));
    for (const src of sources) {
      expect(fs.existsSync(path.join(REPO_ROOT, src)), `COPY source ${src}`).toBe(true);
      const lost = filesUnder(src).filter(ignored);
      expect(lost, `files of ${src} excluded by .dockerignore`).toEqual([]);
    }
    // what tsconfig.build.json compiles is in the context
    const build = ts.readConfigFile(path.join(REPO_ROOT, 'tsconfig.build.json'), ts.sys.readFile);
    expect(build.error).toBeUndefined();
    for (const dir of build.config.include as string[]) expect(sources, `tsconfig.build.json includes ${dir}`).toContain(dir);
    // the host's installs and build output never reach the image (it builds its own for its platform)
    for (const p of ['node_modules', 'node_modules/fastify/package.json', 'shared/node_modules', 'dist/services/api/main.js', 'data/x', '.git/HEAD', '.env']) {
      expect(ignored(p), p).toBe(true);
    }
  });

  it('reads .dockerignore the way Docker does (anchored patterns, **, ! exceptions)', () => {
    const ignored = dockerignore('*.md\n**/node_modules\ndocs\n!docs/keep.md\n');
    expect(ignored('README.md')).toBe(true);
    expect(ignored('shared/notes.md')).toBe(false);
    expect(ignored('a/b/node_modules/x.js')).toBe(true);
    expect(ignored('docs/a.txt')).toBe(true);
    expect(ignored('docs/keep.md')).toBe(false);
    expect(ignored('services/docs.ts')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The COPY lines replayed: build stage, runtime stage

let tmp: { dir: string; cleanup: () => Promise<void> };
/** The build stage's /app: the copied context files, node_modules of the checkout, dist/ after `npm run build`. */
let buildDir: string;
/** The runtime stage's /app: package.json, dist/, production-only node_modules. */
let appDir: string;
const cleanups: (() => Promise<void>)[] = [];

async function replayBuildStage(): Promise<void> {
  const workdir = lastOf('build', 'WORKDIR');
  if (workdir !== '/app') throw new Error(`build stage WORKDIR is ${workdir}, this test replays /app`);
  for (const c of copiesOf('build')) {
    if (c.from !== undefined) throw new Error(`Dockerfile:${c.line}: COPY --from in the build stage is not replayed`);
    const destDir = c.dest.endsWith('/') || c.sources.length > 1;
    for (const src of c.sources) {
      const to = path.join(buildDir, destDir ? path.join(c.dest, path.basename(src)) : c.dest);
      await fsp.cp(path.join(REPO_ROOT, src), to, { recursive: true, filter: (f) => path.basename(f) !== 'node_modules' });
    }
  }
  // `npm ci` of the image: the checkout's installed packages stand in
  await fsp.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(buildDir, 'node_modules'), 'dir');
  await execFileP('npm', ['run', 'build'], { cwd: buildDir }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`npm run build in the build stage's files failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
}

/**
 * `npm prune --omit=dev`: a node_modules with only the packages the lock file does not mark dev, each a link to the
 * checkout's copy. Node resolves links to their real paths, so a package finds its own dependencies as installed;
 * what the compiled code imports by name must be among these.
 */
async function productionNodeModules(dir: string): Promise<string[]> {
  const lock = JSON.parse(await fsp.readFile(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const names: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
    if (!m || entry.dev) continue;
    const real = path.join(REPO_ROOT, key);
    if (!fs.existsSync(real)) continue; // an optional package of another platform
    await fsp.mkdir(path.dirname(path.join(dir, m[1]!)), { recursive: true });
    await fsp.symlink(real, path.join(dir, m[1]!), 'dir');
    names.push(m[1]!);
  }
  return names;
}

async function replayRuntimeStage(): Promise<void> {
  const workdir = lastOf('runtime', 'WORKDIR');
  if (workdir !== '/app') throw new Error(`runtime stage WORKDIR is ${workdir}, this test replays /app`);
  for (const c of copiesOf('runtime')) {
    for (const src of c.sources) {
      if (!src.startsWith('/app/')) throw new Error(`Dockerfile:${c.line}: COPY --from=build ${src} is outside /app`);
      const to = path.resolve(appDir, c.dest);
      if (src === '/app/node_modules') await productionNodeModules(to);
      else await fsp.cp(path.join(buildDir, src.slice('/app/'.length)), to, { recursive: true });
    }
  }
}

/** Every file under `dir` (links not followed) with its size and mtime: what the services must leave as it is. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs} ${st.mode.toString(8)}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

function walkFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

// ---------------------------------------------------------------------------------------------------------------
// The runtime stage, run

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface Layout {
  /** Run as the image's uid (the test is root) or as the test's own user with the app read-only by mode. */
  asImageUser: boolean;
  /** The file the loader hook appends every resolved module URL to. */
  loadLog: string;
  hook: string;
  tmpDir: string;
}

/** Whether a user other than the owner can reach `p` (every directory on the way is o+x). */
function reachableByOthers(p: string): boolean {
  for (let d = path.dirname(fs.realpathSync(p)); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

async function prepareLayout(): Promise<Layout> {
  // the image's user must reach node and the packages (a checkout or a node under a 0700 home cannot be run as it)
  const needed = [process.execPath, path.join(REPO_ROOT, 'node_modules', 'fastify')];
  const asImageUser = process.getuid?.() === 0 && needed.every(reachableByOthers);
  if (process.getuid?.() === 0 && !asImageUser) console.warn(`production-build: ${needed.join(' or ')} is not reachable by uid ${IMAGE_UID}; the services run as root`);
  await fsp.chmod(tmp.dir, 0o755);
  const hooks = path.join(tmp.dir, 'hooks');
  const writable = path.join(tmp.dir, 'writable');
  const tmpDir = path.join(writable, 'tmp');
  await fsp.mkdir(hooks);
  await fsp.mkdir(tmpDir, { recursive: true });
  const loadLog = path.join(writable, 'loaded.log');
  await fsp.writeFile(loadLog, '');
  // resolve hooks (module.register, Node >= 20.6) see every ESM import, the entry point included
  await fsp.writeFile(
    path.join(hooks, 'loader.mjs'),
    `import fs from 'node:fs';\n` +
      `export async function resolve(specifier, context, next) {\n` +
      `  const r = await next(specifier, context);\n` +
      `  fs.appendFileSync(${JSON.stringify(loadLog)}, r.url + '\\n');\n` +
      `  return r;\n` +
      `}\n`,
  );
  const hook = path.join(hooks, 'register.mjs');
  await fsp.writeFile(hook, `import { register } from 'node:module';\nregister('./loader.mjs', import.meta.url);\n`);
  if (asImageUser) {
    for (const d of [writable, tmpDir, loadLog]) await fsp.chown(d, IMAGE_UID, IMAGE_UID);
  } else {
    // not root: read-only modes stop the test's own user (root ignores them; the fingerprint below catches writes either way)
    for (const f of [appDir, ...walkFilesAndDirs(appDir)]) await fsp.chmod(f, (await fsp.lstat(f)).isDirectory() ? 0o555 : 0o444);
    cleanups.push(async () => {
      for (const f of [appDir, ...walkFilesAndDirs(appDir)]) await fsp.chmod(f, 0o755).catch(() => undefined);
    });
  }
  return { asImageUser, loadLog, hook, tmpDir };
}

function walkFilesAndDirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.isSymbolicLink())
    .flatMap((e) => (e.isDirectory() ? [path.join(dir, e.name), ...walkFilesAndDirs(path.join(dir, e.name))] : [path.join(dir, e.name)]));
}

/** A data directory (the pod's /data volume) the service user owns. */
async function dataDir(layout: Layout, name: string): Promise<string> {
  const d = path.join(tmp.dir, 'writable', name);
  await fsp.mkdir(d);
  if (layout.asImageUser) await fsp.chown(d, IMAGE_UID, IMAGE_UID);
  return d;
}

/** The container's environment: the target's ENV, loopback instead of 0.0.0.0, the test's /data and /tmp. */
function containerEnv(layout: Layout, target: Target, data: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ...envOf(target),
    HOST: '127.0.0.1',
    PERCOLATE_DATA_DIR: data,
    TMPDIR: layout.tmpDir,
    HOME: data,
    LOG_LEVEL: 'info',
    NODE_OPTIONS: `--import=${pathToFileURL(layout.hook).href}`,
    ...extra,
  };
}

/** Runs `argv` (a CMD: argv[0] is `node`) in the runtime stage's /app. */
function spawnInImage(layout: Layout, argv: string[], env: NodeJS.ProcessEnv): Proc {
  if (argv[0] !== 'node') throw new Error(`the image runs ${argv[0]}, this test runs node`);
  const child = spawn(process.execPath, argv.slice(1), {
    cwd: appDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(layout.asImageUser ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    // a process that could not be started (EACCES, ENOENT) emits no exit
    child.on('error', (err) => {
      out += `spawn failed: ${err.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, output: () => out, exited };
}

async function runInImage(layout: Layout, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnInImage(layout, argv, env);
  let stdout = '';
  let stderr = '';
  p.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  p.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const { code } = await p.exited;
  return { code, stdout, stderr: code === null ? p.output() : stderr };
}

async function startTarget(layout: Layout, target: Target, data: string, port: number, extra: Record<string, string>): Promise<Proc & { url: string }> {
  const p = spawnInImage(layout, cmdOf(target), containerEnv(layout, target, data, extra));
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitFor(`${target} to listen`, async () => p.output().includes(`listening on ${url}`), 30_000),
    p.exited.then(({ code, signal }) => {
      throw new Error(`${target} exited (code ${code}, signal ${signal}) before listening:\n${p.output()}`);
    }),
  ]);
  return { ...p, url };
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text
  }
  return { status: res.status, body };
}

// The build stage and the runtime stage replayed once (the build takes most of this file's time), then checked and run
describe('the image, replayed', () => {
  beforeAll(async () => {
    tmp = await tempDir('percolate-image-');
    buildDir = path.join(tmp.dir, 'build', 'app');
    appDir = path.join(tmp.dir, 'runtime', 'app');
    await fsp.mkdir(buildDir, { recursive: true });
    await fsp.mkdir(appDir, { recursive: true });
    await replayBuildStage();
    await replayRuntimeStage();
  }, 90_000);

  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
    await tmp?.cleanup();
  });

  describe('npm run build', () => {
    it('compiles the build stage files to JavaScript in dist/, one .js per .ts, no TypeScript source left (the client declarations beside it)', () => {
      const dist = path.join(buildDir, 'dist');
      const files = walkFiles(dist).map((f) => path.relative(dist, f));
      // JavaScript, and the declarations the typed client ships (percolate-ts/client: package.json exports "types")
      expect(files.filter((f) => !f.endsWith('.js') && !f.endsWith('.d.ts'))).toEqual([]);
      expect(files).toEqual(expect.arrayContaining(['client/index.js', 'client/index.d.ts']));
      for (const t of TARGETS) expect(files).toContain(`services/${t}/main.js`);
      expect(files).toEqual(expect.arrayContaining(['scripts/percolate.js', 'scripts/drain.js']));
      // the development stack (it runs the .ts entries through tsx) is no part of an image
      expect(files).not.toContain('scripts/start.js');
      const sources = ['services', 'shared'].flatMap((d) => walkFiles(path.join(REPO_ROOT, d))).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
      for (const src of sources) expect(files, src).toContain(path.relative(REPO_ROOT, src).replace(/\.ts$/, '.js'));
    });

    it('imports by name only node builtins and packages of "dependencies", and relative imports that exist', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      const builtins = new Set(builtinModules);
      const notProduction: string[] = [];
      const missing: string[] = [];
      let bare = 0;
      for (const file of walkFiles(path.join(appDir, 'dist')).filter((f) => f.endsWith('.js'))) {
        const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
        for (const { fileName: spec } of importedFiles) {
          const where = `${path.relative(appDir, file)}: ${spec}`;
          if (spec.startsWith('.')) {
            if (!fs.existsSync(path.resolve(path.dirname(file), spec))) missing.push(where);
          } else if (spec.startsWith('node:') || builtins.has(spec)) {
            continue;
          } else {
            bare++;
            if (!(packageOf(spec) in pkg.dependencies)) notProduction.push(where);
          }
        }
      }
      expect(bare).toBeGreaterThan(10); // the scan sees the imports at all
      expect(notProduction).toEqual([]);
      expect(missing).toEqual([]);
      // and the runtime stage's node_modules has each of them
      for (const name of Object.keys(pkg.dependencies)) expect(fs.existsSync(path.join(appDir, 'node_modules', name)), name).toBe(true);
      expect(fs.existsSync(path.join(appDir, 'node_modules', 'vitest'))).toBe(false);
    });
  });

  describe('the runtime stage', () => {
    it('runs the CMDs, the CLI and the drain script with plain node on production packages, writing only /data and /tmp', async () => {
      const layout = await prepareLayout();
      const before = fingerprint(appDir);
      const [nats, s3] = await Promise.all([startNats(), startS3()]);
      cleanups.push(() => nats.cleanup(), () => s3.cleanup());
      const [apiData, gatewayData, workerData] = [await dataDir(layout, 'api-data'), await dataDir(layout, 'gateway-data'), await dataDir(layout, 'worker-data')];
      const cli = (args: string[], data: string) => runInImage(layout, ['node', 'dist/scripts/percolate.js', ...args], containerEnv(layout, 'api', data, {}));

      const help = await cli(['--help'], apiData);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^usage: percolate <command>/);
      // the installation's signing key, made with the compiled CLI in the node's data directory
      const kid = await cli(['keys', 'generate'], apiData);
      expect(kid.code, kid.stderr).toBe(0);
      const keysFile = path.join(apiData, 'keys', 'jwks.json');
      expect(kid.stdout.trim()).toMatch(/^\S+$/);

      const [apiPort, gatewayPort, workerPort] = [await freePort(), await freePort(), await freePort()];
      const bus = { PERCOLATE_NATS_URL: nats.url, ...s3.env };
      const api = await startTarget(layout, 'api', apiData, apiPort, { PORT: String(apiPort), PERCOLATE_NODE_ID: 'db-0', PERCOLATE_SNAPSHOTS: 'on', ...bus });
      const [gateway, worker] = await Promise.all([
        startTarget(layout, 'gateway', gatewayData, gatewayPort, { PERCOLATE_GATEWAY_PORT: String(gatewayPort), PERCOLATE_AUTH_KEYS_FILE: keysFile, ...bus }),
        startTarget(layout, 'worker', workerData, workerPort, { PERCOLATE_WORKER_PORT: String(workerPort), PERCOLATE_AUTH_KEYS_FILE: keysFile, PERCOLATE_API_URL: api.url, ...bus }),
      ]);
      for (const s of [api, gateway, worker]) {
        expect((await call(`${s.url}/health/live`)).status).toBe(200);
        await waitFor(`${s.url}/health/ready`, async () => (await call(`${s.url}/health/ready`)).status === 200, 20_000);
      }

      // auth is required (the production default): a write without a token is refused, with one minted by the CLI it lands
      const minted = await cli(['token', '--tenant', 'acme', '--scope', 'rw', '--ttl', '10m'], apiData);
      expect(minted.code, minted.stderr).toBe(0);
      const headers = { authorization: `Bearer ${minted.stdout.trim()}`, 'x-tenant-id': 'acme' };
      const doc = { uri: 'doc://image', content: 'written to the compiled node' };
      const json = { 'content-type': 'application/json' };
      expect((await call(`${api.url}/api/v1/resources`, { method: 'POST', headers: { 'x-tenant-id': 'acme', ...json }, body: JSON.stringify(doc) })).status).toBe(401);
      const put = await call(`${api.url}/api/v1/resources`, { method: 'POST', headers: { ...headers, ...json }, body: JSON.stringify(doc) });
      expect(put.status).toBe(201);
      const got = await call(`${api.url}/api/v1/resources/${encodeURIComponent(put.body.ids[0])}`, { headers });
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject(doc);

      // an upload through the gateway, parsed and written by the worker (which mints its own token from the key file)
      const form = new FormData();
      form.append('file', new Blob(['# Image notes\n\nThe worker of the production build ingested this.\n']), 'notes.md');
      const up = await call(`${gateway.url}/upload`, { method: 'POST', headers, body: form });
      expect(up.status, JSON.stringify(up.body)).toBe(202);
      const job = await waitFor(
        `job ${up.body.job_id}`,
        async () => {
          const j = await call(`${gateway.url}/jobs/${up.body.job_id}`, { headers });
          if (j.body?.status === 'completed' || j.body?.status === 'failed') return j.body;
          throw new Error(JSON.stringify(j.body));
        },
        30_000,
      );
      expect(job).toMatchObject({ status: 'completed', error: null });
      expect(job.resources).toBeGreaterThan(0);
      const found = await call(`${api.url}/api/v1/resources?query=${encodeURIComponent('worker ingested')}&mode=keyword`, { headers });
      expect(found.status).toBe(200);
      expect(JSON.stringify(found.body.results)).toContain('The worker of the production build ingested this.');

      // the preStop hook: the node drains (its hot tenant snapshotted to S3) and stops being ready
      const drain = await runInImage(layout, ['node', 'dist/scripts/drain.js'], containerEnv(layout, 'api', apiData, { PORT: String(apiPort) }));
      expect(drain.code, drain.stdout + drain.stderr).toBe(0);
      const summary = JSON.parse(drain.stdout.replace(/^percolate drain: 200 /, ''));
      expect(summary).toMatchObject({ outbox_remaining: 0, snapshot_failures: 0, timed_out: false });
      expect(summary.snapshots).toBeGreaterThanOrEqual(1);
      expect((await call(`${api.url}/health/ready`)).status).toBe(503);

      for (const s of [worker, gateway, api]) {
        s.child.kill('SIGTERM');
        expect(await s.exited, s.output()).toEqual({ code: 0, signal: null });
      }

      // what was loaded: the compiled entry points, the rest of dist/ and packages, never TypeScript or the source tree
      const loaded = [...new Set((await fsp.readFile(layout.loadLog, 'utf8')).split('\n').filter(Boolean))];
      for (const t of TARGETS) expect(loaded).toContain(`file://${path.join(appDir, 'dist', 'services', t, 'main.js')}`);
      expect(loaded).toContain(`file://${path.join(appDir, 'dist', 'scripts', 'drain.js')}`);
      const distUrl = `file://${appDir}/dist/`;
      const packagesUrl = `file://${fs.realpathSync(path.join(REPO_ROOT, 'node_modules'))}/`;
      const stray = loaded.filter((u) => !u.startsWith('node:') && !u.startsWith(distUrl) && !u.startsWith(packagesUrl));
      expect(stray).toEqual([]);
      expect(loaded.filter((u) => /\.[cm]?tsx?$/.test(u) || u.includes('/node_modules/tsx/'))).toEqual([]);
      // nothing under /app changed, and the data is the service user's
      expect(fingerprint(appDir)).toEqual(before);
      if (layout.asImageUser) expect((await fsp.stat(path.join(apiData, 'drain.token'))).uid).toBe(IMAGE_UID);
    }, 90_000);
  });
});

// Which environment variables the code reads, and the literal defaults it gives them, found by scanning the source:
// the README's configuration tables are checked against it (test/config-docs.test.ts), and so are the variables the
// Kubernetes manifests set (test/manifests.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
/** Where variables are read: the engine, the services, the scripts (npm start, s3rver) and the benchmarks. */
export const SOURCE_DIRS = ['shared', 'services', 'scripts', 'bench'];
/** Read by a library rather than by our code: the AWS SDK's credential chain. */
export const LIBRARY_VARIABLES = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']);

const NAME = '([A-Z][A-Z0-9_]*)';
const Q = `['"\`]`;
/** The ways the code reads a variable (process.env.NAME included in the first). */
const READS = [
  new RegExp(`\\benv\\.${NAME}\\b`, 'g'),
  new RegExp(`\\benv\\[\\s*${Q}${NAME}${Q}\\s*\\]`, 'g'),
  // intFrom(env, 'NAME', ...), boolFrom(env, 'NAME', ...), and helpers of the same shape (tierFrom, serviceBase, port)
  new RegExp(`\\b\\w+\\(\\s*env\\s*,\\s*${Q}${NAME}${Q}`, 'g'),
];
/** A literal default: `reader(env, 'NAME', <number expression | true | false | 'text'>` or `env.NAME || 'text'`. */
const DEFAULTS = [
  new RegExp(`\\b\\w+\\(\\s*env\\s*,\\s*${Q}${NAME}${Q}\\s*,\\s*([0-9_ *+()-]+?|true|false|'[^']*')\\s*[,)]`, 'g'),
  new RegExp(`\\benv\\.${NAME}\\s*(?:\\|\\||\\?\\?)\\s*('[^']*')`, 'g'),
];

/** Source files (TypeScript and JavaScript) under `dirs`, relative to the repository root. */
export function sourceFiles(dirs: readonly string[] = SOURCE_DIRS): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'results') walk(p);
      } else if (/\.(ts|mts|js|mjs|cjs)$/.test(e.name)) out.push(p);
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  return out;
}

/** Every variable read under `dirs`, with the files that read it, and the literal defaults the code gives. */
export function scanEnvReads(dirs: readonly string[] = SOURCE_DIRS): { reads: Map<string, Set<string>>; defaults: Map<string, Set<string>> } {
  const reads = new Map<string, Set<string>>();
  const defaults = new Map<string, Set<string>>();
  for (const file of sourceFiles(dirs)) {
    const text = fs.readFileSync(file, 'utf8');
    const rel = path.relative(ROOT, file);
    for (const re of READS) for (const m of text.matchAll(re)) (reads.get(m[1]!) ?? reads.set(m[1]!, new Set()).get(m[1]!)!).add(rel);
    for (const re of DEFAULTS) {
      for (const m of text.matchAll(re)) {
        const raw = m[2]!.trim();
        let value: string;
        if (raw.startsWith("'")) value = raw.slice(1, -1);
        else if (raw === 'true' || raw === 'false') value = raw;
        // digits and arithmetic only (the character class above), so evaluating it runs no code of the file
        else value = String(Function(`"use strict"; return (${raw.replace(/_/g, '')});`)());
        (defaults.get(m[1]!) ?? defaults.set(m[1]!, new Set()).get(m[1]!)!).add(value);
      }
    }
  }
  return { reads, defaults };
}

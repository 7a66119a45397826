// A client generated from the node's OpenAPI document type-checks against real use and works: openapi-typescript
// turns GET /openapi.json into types, the TypeScript compiler checks test/fixtures/generated-client-use.ts (openapi-fetch
// calls with bodies, path parameters and answers typed from the document) in strict mode with no error, and the same
// calls then run against the node.
import fs from 'node:fs/promises';
import path from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode } from './support/api.js';
import { tempDir } from './support/tmp.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'generated-client-use.ts');
/** TypeScript's strict diagnostics of one file (and what it imports), openapi-fetch taken from this repository. */
function typeCheck(file: string): string[] {
  const program = ts.createProgram([file], {
    strict: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
    // the file lives in a temporary directory: openapi-fetch resolves from the repository's node_modules
    paths: { 'openapi-fetch': [path.join(process.cwd(), 'node_modules', 'openapi-fetch')] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

let node: TestNode;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  node = await startNode();
  tmp = await tempDir();
});
afterAll(async () => {
  await node?.close();
  await tmp?.cleanup();
});

describe('a client generated from GET /openapi.json', () => {
  it('type-checks against real use (strict, no casts) and answers as typed', { timeout: 60_000 }, async () => {
    const doc = (await node.call('GET', '/openapi.json', { tenant: null })).body;
    const types = astToString(await openapiTS(doc));
    await fs.writeFile(path.join(tmp.dir, 'percolate.d.ts'), types);
    const use = path.join(tmp.dir, 'use.ts');
    await fs.copyFile(FIXTURE, use);
    const problems = typeCheck(use);
    expect(problems).toEqual([]);

    // the same calls, run: what the types promise is what comes back
    const { use: run } = (await import(FIXTURE)) as { use: (url: string, tenant: string) => Promise<Record<string, unknown>> };
    const got = await run(node.url, 'generated');
    expect(got.ids).toHaveLength(1);
    expect(got.uri).toBe('notes://radium');
    expect(got.hitIds).toEqual(got.ids);
    expect(got.entityStatus).toBe(201);
    expect(got.rows).toEqual([{ key: 'Marie Curie' }]);
    expect(got.missingStatus).toBe(404);
    expect(got.code).toBe('not_found');
  });

  it('fails the type check when a call does not match the document', { timeout: 60_000 }, async () => {
    const doc = (await node.call('GET', '/openapi.json', { tenant: null })).body;
    await fs.writeFile(path.join(tmp.dir, 'percolate.d.ts'), astToString(await openapiTS(doc)));
    const bad = path.join(tmp.dir, 'bad.ts');
    await fs.writeFile(
      bad,
      "import createClient from 'openapi-fetch';\nimport type { paths } from './percolate.js';\n" +
        "const db = createClient<paths>({ baseUrl: 'http://x' });\n" +
        "void db.POST('/api/v1/resources', { body: { uri: 'u', contents: 'misspelt field' } });\n",
    );
    const problems = typeCheck(bad);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/contents/);
  });
});

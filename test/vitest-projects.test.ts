// The split of vitest.config.ts: every file listed as a unit test exists (a renamed file would silently move to no
// project's list and run as an integration test), and the integration project is everything else.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UNIT_TESTS } from '../vitest.config.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

describe('vitest projects', () => {
  it('list only unit test files that exist, each once', () => {
    expect(UNIT_TESTS.filter((f) => !fs.existsSync(path.join(ROOT, f)))).toEqual([]);
    expect(new Set(UNIT_TESTS).size).toBe(UNIT_TESTS.length);
    expect(UNIT_TESTS).toContain('test/vitest-projects.test.ts');
  });

  it('keep the slow and the process-starting files out of the unit project', () => {
    for (const f of ['test/recall.test.ts', 'test/replication.test.ts', 'test/bench-smoke.test.ts', 'test/ingest-parse.test.ts']) expect(UNIT_TESTS).not.toContain(f);
  });
});

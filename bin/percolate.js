#!/usr/bin/env node
// `percolate` (package.json "bin"): `npx percolate ...` inside the checkout. Registers tsx, then runs the TypeScript
// entry scripts/percolate.ts, in this process.
import { register } from 'tsx/esm/api';

register();
await import('../scripts/percolate.ts');

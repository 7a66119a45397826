// The entry of the `percolate` command (bin/percolate.js imports it through tsx; `npx tsx scripts/percolate.ts`
// runs it too). The commands are in scripts/cli/.
import { runCli } from './cli/main.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
});
process.exitCode = code;

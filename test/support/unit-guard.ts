// Setup file of the unit project (vitest.config.ts): a unit test starts no server, no child process and no external
// binary. Listening on a socket or spawning a process fails the test at once with a message saying where it belongs.
import childProcess, { ChildProcess } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refuse(what: string): never {
  throw new Error(`a unit test may not ${what}: put this test file in the integration project (UNIT_TESTS in vitest.config.ts lists the unit ones)`);
}

net.Server.prototype.listen = function listen(): never {
  refuse('start a server (net.Server.listen)');
};
// spawn, exec, execFile and fork all go through ChildProcess.prototype.spawn; the synchronous ones do not
(ChildProcess.prototype as unknown as { spawn: () => never }).spawn = function spawn(): never {
  refuse('start a child process');
};
const cp = childProcess as unknown as Record<string, unknown>;
for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
  cp[name] = () => refuse(`run an external binary (child_process.${name})`);
}
syncBuiltinESMExports(); // named imports of node:child_process see the replacements too

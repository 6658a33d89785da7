// Loaded with --import by `run-tests.mjs --unit`: inside each test file's process, every function
// of node:child_process throws, so a test in the unit tier that starts a process (the CLI, the
// bench, a browser) fails at once with the rename it needs instead of quietly slowing the tier.
// The runner process itself (no NODE_TEST_CONTEXT) keeps child_process: it starts the test files.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

if (process.env.NODE_TEST_CONTEXT) {
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    childProcess[name] = (command) => {
      throw new Error(
        `unit tests run in process, but this test calls child_process.${name}(${JSON.stringify(String(command))}): ` +
          'move it to a file named *.e2e.test.ts (see scripts/run-tests.mjs)',
      );
    };
  }
  syncBuiltinESMExports();
}

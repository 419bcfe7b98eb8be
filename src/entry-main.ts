import * as core from './actions-core.js';
import { killRunningTools } from './exec.js';
import { runMain } from './main.js';

// A cancelled job gets SIGINT, then SIGTERM. The tools run in process groups of their own, so
// they are stopped here; the post step then removes whatever main had created.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    killRunningTools();
    core.error(`The main step was stopped by ${signal}; the post step removes what it created.`);
    process.exit(code);
  });
}

await runMain();
// A download that timed out can leave a socket open, which would keep Node running. Writes to
// stdout and stderr are synchronous for Linux pipes and files, so exiting here loses no output.
process.exit();

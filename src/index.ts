import * as core from '@actions/core';
import { killRunningTools } from './exec.js';
import { runMain } from './main.js';
import { runPost } from './post.js';

// One bundle serves as both main and post. The runner gives post only the state that main saved,
// so a flag saved by main distinguishes the two.
if (core.getState('isPost') === 'true') {
  await runPost();
} else {
  core.saveState('isPost', 'true');
  // A cancelled job gets SIGINT, then SIGTERM. The tools run in process groups of their own, so
  // they are stopped here; post then removes whatever main had created.
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
}
// A download that timed out can leave a socket open, which would keep Node running. Writes to
// stdout and stderr are synchronous for Linux pipes and files, so exiting here loses no output.
process.exit();

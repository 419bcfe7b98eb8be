import * as core from '@actions/core';
import { runMain } from './main.js';
import { runPost } from './post.js';

// One bundle serves as both main and post. The runner gives post only the state that main saved,
// so a saved flag tells them apart.
if (core.getState('isPost') === 'true') {
  await runPost();
} else {
  core.saveState('isPost', 'true');
  await runMain();
}

import { runPost } from './post.js';

// Post has an entry of its own, so that it never runs main's login, even when main was cancelled
// before it could save any state, and so that it loads neither openpgp nor the tool cache.
await runPost();
process.exit();

/** Snapshots of a folder tree, to show that a step left files it does not own untouched. */
import { createHash } from 'node:crypto';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { walkTree } from './inspect.js';

/**
 * Returns one line per entry under `dir`: its path, type, mode, size and modification time, and
 * the sha256 of a regular file or the target of a symlink. Equal snapshots mean that nothing was
 * created, removed, written or touched, because a write changes the mtime even with equal bytes.
 */
export async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  for (const entry of await walkTree([dir])) {
    const stats = await lstat(entry.path);
    let content = '';
    if (entry.type === 'file') {
      content = createHash('sha256')
        .update(await readFile(entry.path))
        .digest('hex');
    } else if (entry.type === 'symlink') {
      content = `-> ${await readlink(entry.path)}`;
    }
    const mode = (stats.mode & 0o7777).toString(8);
    snapshot.set(
      entry.path,
      `${entry.type} ${mode} ${stats.size} ${stats.mtimeMs} ${content}`.trimEnd(),
    );
  }
  return snapshot;
}

/** Returns the paths that were added, removed or changed between two snapshots, sorted. */
export function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((path) => before.get(path) !== after.get(path)).sort();
}

/** PATH folders for runners that lack a tool, such as GitHub's ubuntu-24.04 images without pass. */
import { accessSync, constants, statSync } from 'node:fs';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * Fills `folder` with a symlink to every executable on `searchPath` except those named in
 * `excluded`, and returns `folder` as a PATH of one entry. Where two PATH folders have a tool of
 * the same name, the link points at the first, as a PATH lookup would find it.
 */
export async function linkExecutablesExcept(
  folder: string,
  excluded: string[],
  searchPath = process.env.PATH ?? '/usr/bin:/bin',
): Promise<string> {
  await mkdir(folder, { recursive: true });
  const linked = new Set(excluded);
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (linked.has(name)) continue;
      const target = join(dir, name);
      if (!isExecutableFile(target)) continue;
      await symlink(target, join(folder, name));
      linked.add(name);
    }
  }
  return folder;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

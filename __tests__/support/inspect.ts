/** Read-only looks at files and processes, for assertions about what a job left behind. */
import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TreeEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'socket' | 'other';
}

/** Lists everything under the folders, without following symlinks. Missing folders are skipped. */
export async function walkTree(dirs: string[]): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const visit = async (path: string): Promise<void> => {
    let stats;
    try {
      stats = await lstat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (stats.isSymbolicLink()) {
      entries.push({ path, type: 'symlink' });
    } else if (stats.isDirectory()) {
      entries.push({ path, type: 'directory' });
      for (const name of await readdir(path)) await visit(join(path, name));
    } else if (stats.isFile()) {
      entries.push({ path, type: 'file' });
    } else {
      entries.push({ path, type: stats.isSocket() ? 'socket' : 'other' });
    }
  };
  for (const dir of dirs) await visit(dir);
  return entries;
}

/** Returns the regular files under the folders whose bytes contain any of the needles. */
export async function findInTree(dirs: string[], needles: Buffer[]): Promise<string[]> {
  const matches: string[] = [];
  for (const entry of await walkTree(dirs)) {
    if (entry.type !== 'file') continue;
    let content: Buffer;
    try {
      content = await readFile(entry.path);
    } catch (error) {
      // A file that a step removes while the walk runs.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (needles.some((needle) => content.includes(needle))) matches.push(entry.path);
  }
  return matches;
}

export interface ProcessEntry {
  pid: number;
  /** The command line with NUL separators shown as spaces. */
  cmdline: string;
}

/**
 * Returns the processes, other than this one, whose command line or environment contains `text`.
 * Zombies have neither and are not returned.
 */
export async function findProcessesMentioning(text: string): Promise<ProcessEntry[]> {
  const found: ProcessEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(text) || environ.includes(text)) {
        found.push({ pid, cmdline: cmdline.replace(/\0/g, ' ').trim() });
      }
    } catch {
      // The process exited while the scan ran.
    }
  }
  return found;
}

/**
 * Returns whether a process with this id is alive. A zombie (state Z in /proc/<pid>/stat) is
 * not: it has exited, and only its parent has not collected it yet.
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends SIGTERM to each process id, then SIGKILL to those still running after `graceMs`. */
export async function stopProcesses(pids: number[], graceMs = 5_000): Promise<void> {
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // Already gone.
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(isRunning) && Date.now() < deadline) await sleep(100);
  for (const pid of pids.filter(isRunning)) signal(pid, 'SIGKILL');
}

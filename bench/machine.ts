/** A description of the machine and of the tool versions that a benchmark ran with. */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { execute } from '../__tests__/support/exec.js';
import { REPO_ROOT } from '../__tests__/support/runner.js';

/**
 * Runs `command` with PATH only and returns the first line of its output that matches `pattern`
 * (its first group), or a note that it failed. None of these commands contacts a daemon.
 */
async function versionOf(command: string, args: string[], pattern: RegExp): Promise<string> {
  const path = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin`;
  try {
    const result = await execute(command, args, { env: { PATH: path }, timeoutMs: 10_000 });
    const match = pattern.exec(`${result.stdout}\n${result.stderr}`);
    return match ? match[1] : `unknown (exit code ${result.exitCode})`;
  } catch (error) {
    return `not available (${(error as Error).message})`;
  }
}

async function cpuModel(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? 'unknown';
}

async function packageVersion(name: string): Promise<string> {
  const file = join(REPO_ROOT, 'node_modules', name, 'package.json');
  const text = await readFile(file, 'utf8').catch(() => '{}');
  return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
}

/** Formats the 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}

/** Returns the checkout's commit, noting uncommitted changes to src/ or dist/. */
async function checkout(): Promise<string> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const git = (args: string[]) =>
    execute('git', ['-C', REPO_ROOT, ...args], { env, timeoutMs: 10_000 }).catch(() => undefined);
  const head = await git(['rev-parse', '--short', 'HEAD']);
  if (head?.exitCode !== 0) return 'unknown (not a git checkout)';
  const status = await git(['status', '--porcelain', '--', 'src', 'dist']);
  const dirty = status?.stdout.trim() ? ' with uncommitted changes in src/ or dist/' : '';
  return `${head.stdout.trim()}${dirty}`;
}

/** Returns [item, value] rows: CPU, memory, kernel and the versions of every component. */
export async function describeMachine(): Promise<Array<[string, string]>> {
  const [commit, cpu, docker, dockerd, gpg, pass, helper, openpgp] = await Promise.all([
    checkout(),
    cpuModel(),
    versionOf('docker', ['--version'], /Docker version ([^,\s]+)/),
    versionOf('dockerd', ['--version'], /Docker version ([^,\s]+)/),
    versionOf('gpg', ['--version'], /^gpg \(GnuPG\) (\S+)/m),
    versionOf('pass', ['version'], /v(\d+\.\d+\.\d+)/),
    versionOf('docker-credential-pass', ['version'], /(\d+\.\d+\.\d+\S*)/),
    packageVersion('openpgp'),
  ]);
  return [
    ['checkout', commit],
    ['CPU', cpu],
    ['cores', String(availableParallelism())],
    ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', release()],
    ['Node.js', process.version],
    ['docker CLI', docker],
    ['dockerd', dockerd],
    ['gpg', gpg],
    ['pass', pass],
    ['docker-credential-pass (served by the mirror)', helper],
    ['openpgp (bundled)', openpgp],
    ['load average at start (1, 5, 15 min)', loadAverage()],
  ];
}

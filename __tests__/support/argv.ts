/**
 * Records the command lines of the processes that a job starts, for checks that no secret is ever
 * passed as an argument, where any process of the same user (and `ps`) could read it.
 *
 * Two sources complement each other. Shims on the job's PATH log every run of the tools they
 * stand for, however short. Polling `/proc` finds the processes that are started by absolute path
 * (gpg-agent, docker-credential-pass), as long as they live for a few milliseconds.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeResult, execute, findExecutable } from './exec.js';

/** Tools that the action, pass or the helper start by name from PATH. */
export const RECORDED_TOOLS = [
  'gpg',
  'gpg2',
  'gpgconf',
  'gpg-agent',
  'gpg-connect-agent',
  'pass',
  'docker',
  'getopt',
  'bash',
  'sh',
  'tar',
  'xz',
  'tree',
  'git',
  'mkdir',
  'rm',
  'cat',
  'sed',
  'find',
  'mv',
  'cp',
  'base64',
  'dirname',
  'basename',
  'mktemp',
];

export interface ArgvRecorder {
  /** Folder of the shims, to put first on the job's PATH. */
  binDir: string;
  /** Returns every recorded run in the order of each process, as [tool, ...args]. */
  read(): Promise<string[][]>;
}

/** Quotes a value for POSIX sh with single quotes. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes one shim per tool in `tools` that exists on `searchPath`. Each shim appends its argument
 * count, the tool name and its arguments, NUL-separated, to a log file named after its process id,
 * then runs the real tool by absolute path. The shims are bash scripts because dash would drop
 * variables whose names are not shell identifiers, such as INPUT_HELPER-VERSION. The `gpgconf`
 * shim prints a folder of its own for `--list-dirs libexecdir`, so that the recorder also logs the
 * `gpg-preset-passphrase` that the action runs from there.
 */
export async function createArgvRecorder(
  folder: string,
  searchPath: string,
  tools: string[] = RECORDED_TOOLS,
): Promise<ArgvRecorder> {
  const binDir = join(folder, 'bin');
  const libexecDir = join(folder, 'libexec');
  const logDir = join(folder, 'log');
  for (const dir of [binDir, libexecDir, logDir]) await mkdir(dir, { recursive: true });

  const log = `printf '%s\\0' "$#" "$TOOL" "$@" >> ${shellQuote(logDir)}/$$`;
  const shim = (name: string, real: string, extra: string[] = []) =>
    [
      '#!/bin/bash',
      `TOOL=${shellQuote(name)}`,
      log,
      ...extra,
      `exec ${shellQuote(real)} "$@"`,
      '',
    ].join('\n');

  for (const name of tools) {
    const real = findExecutable(name, searchPath);
    if (!real) continue;
    const extra =
      name === 'gpgconf'
        ? [
            'if [ "$#" -eq 2 ] && [ "$1" = --list-dirs ] && [ "$2" = libexecdir ]; then',
            `  printf '%s\\n' ${shellQuote(libexecDir)}`,
            '  exit 0',
            'fi',
          ]
        : [];
    await writeFile(join(binDir, name), shim(name, real, extra), { mode: 0o755 });
  }

  const gpgconf = findExecutable('gpgconf', searchPath);
  if (gpgconf) {
    const listed = await execute(gpgconf, ['--list-dirs', 'libexecdir'], {
      env: { PATH: searchPath },
      timeoutMs: 30_000,
    });
    if (listed.exitCode !== 0) throw new Error(`gpgconf failed: ${describeResult(listed)}`);
    const realLibexec = decodeURIComponent(listed.stdout.trim());
    const preset = join(realLibexec, 'gpg-preset-passphrase');
    await writeFile(
      join(libexecDir, 'gpg-preset-passphrase'),
      shim('gpg-preset-passphrase', preset),
      { mode: 0o755 },
    );
  }

  return {
    binDir,
    read: async () => {
      const runs: string[][] = [];
      for (const name of (await readdir(logDir)).sort()) {
        runs.push(...parseArgvLog(await readFile(join(logDir, name), 'utf8')));
      }
      return runs;
    },
  };
}

/** Parses records of `<count>\0<tool>\0<arg 1>\0…<arg count>\0`. */
export function parseArgvLog(text: string): string[][] {
  const fields = text.split('\0');
  const runs: string[][] = [];
  let index = 0;
  while (index < fields.length - 1) {
    const count = Number(fields[index]);
    if (!Number.isInteger(count) || count < 0) {
      throw new Error(`Invalid argv log: field ${index} is '${fields[index]}', not a count.`);
    }
    runs.push(fields.slice(index + 1, index + 2 + count));
    index += count + 2;
  }
  return runs;
}

export interface CommandLinePoller {
  /** Stops polling and returns each distinct command line seen, arguments joined by spaces. */
  stop(): Promise<string[]>;
}

/**
 * Reads `/proc/<pid>/cmdline` of every process on the machine over and over until stopped. It
 * misses processes that start and exit between two scans, which the shims cover.
 */
export function pollCommandLines(intervalMs = 2): CommandLinePoller {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const name of await readdir('/proc')) {
        if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
        try {
          const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8');
          if (cmdline) seen.add(cmdline.replace(/\0+$/, '').replace(/\0/g, ' '));
        } catch {
          // The process exited while the scan ran.
        }
      }
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return [...seen];
    },
  };
}

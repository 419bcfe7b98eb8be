import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ExecOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes written to the child's stdin, which is then closed. Without it stdin is empty. */
  input?: string | Buffer;
  /** The child's process group is killed with SIGKILL after this many ms. */
  timeoutMs?: number;
  /** Called with the child's process id once it started, e.g. to send it a signal later. */
  onSpawn?: (pid: number) => void;
  /** Runs the child as this user and group; the test process must be root. */
  user?: { uid: number; gid: number };
}

export interface ExecResult {
  /** Null when a signal ended the child. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /**
   * True when stdout or stderr stayed open after the child exited, because a process it started
   * (a daemon, say) inherited the pipes. The GitHub runner waits for both pipes to close, so such
   * a step hangs there.
   */
  stdioHeldOpen: boolean;
  stdout: string;
  stderr: string;
}

/** Time to wait for stdout and stderr to close after the child exits. */
const STDIO_GRACE_MS = 3_000;

/**
 * Runs a command to completion and captures its output as UTF-8. The child leads its own process
 * group, so a timeout kills it together with everything it started that stayed in the group.
 */
export function execute(
  command: string,
  args: string[],
  options: ExecOptions,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      uid: options.user?.uid,
      gid: options.user?.gid,
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A child that exits before reading its input makes the write fail with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');

    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs ?? 120_000);

    const finish = (stdioHeldOpen: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(graceTimer);
      if (stdioHeldOpen) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
      resolve({
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        timedOut,
        stdioHeldOpen,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    };

    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      reject(new Error(`Failed to start '${command}': ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      graceTimer = setTimeout(() => finish(true), STDIO_GRACE_MS);
    });
    child.on('close', () => finish(false));
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/** Returns the full path of the first executable `name` on `searchPath`, or undefined. */
export function findExecutable(name: string, searchPath: string | undefined): string | undefined {
  for (const folder of (searchPath ?? '').split(delimiter)) {
    if (!folder) continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** Formats a result for an assertion message: the exit code and both streams. */
export function describeResult(result: ExecResult): string {
  const status = result.timedOut
    ? 'timed out'
    : `exit code ${result.exitCode ?? 'none'}${result.signal ? `, signal ${result.signal}` : ''}`;
  return `${status}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

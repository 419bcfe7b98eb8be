import { spawn } from 'node:child_process';
import * as core from './actions-core.js';
import { scrub } from './secrets.js';

export interface RunOptions {
  /** Purpose of the call in a few words, which starts the error message. */
  purpose: string;
  /** Bytes written to the tool's stdin, then stdin is closed. Secrets go here, never in args. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the tool and its process group are killed. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** The output contains a secret: it is neither logged nor put into an error message. */
  secretOutput?: boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/** Time that a tool's output pipes may stay open after it exits, before they are closed. */
const EXIT_GRACE_MS = 1_000;

/** Process groups of the tools running now, for `killRunningTools`. */
const running = new Set<number>();

/** Kills every tool still running, with whatever it started; for a cancelled step. */
export function killRunningTools(): void {
  for (const pid of running) killGroup(pid);
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly tool: string,
    readonly result: RunResult | undefined,
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/**
 * Runs a tool without a shell and returns its exit code and output.
 *
 * node:child_process is used instead of @actions/exec because @actions/exec has no timeout and
 * no way to kill a hung child, and a hung tool (pass without GNU getopt spins forever) must not
 * hang the job. Throws a ToolError that names the tool, the purpose and the exit code, with the
 * tool's own message scrubbed of every masked secret.
 */
export function runTool(tool: string, args: string[], options: RunOptions): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  core.debug(scrub(`$ ${[tool, ...args].join(' ')}`));

  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // A process group of its own lets a timeout kill the tool and whatever it started.
      detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A tool that exits before reading its stdin closes the pipe, and its exit code reports why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');

    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      const reason = error.code === 'ENOENT' ? 'not found on PATH' : error.message;
      reject(new ToolError(`${options.purpose} failed: ${tool} ${reason}`, tool, undefined));
    });

    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      const result: RunResult = {
        exitCode: code ?? 128,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (!options.secretOutput) {
        if (result.stdout) core.debug(scrub(result.stdout.trimEnd()));
        if (result.stderr) core.debug(scrub(result.stderr.trimEnd()));
      }
      if (timedOut) {
        const message = `${options.purpose} failed: ${tool} timed out after ${timeoutMs / 1000} s`;
        reject(new ToolError(message, tool, result, true));
      } else if (code === 0 || options.allowFailure) {
        resolve(result);
      } else {
        const status = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const detail = options.secretOutput ? '' : toolMessage(result);
        const message = `${options.purpose} failed: ${tool} ${status}${detail ? `: ${detail}` : ''}`;
        reject(new ToolError(message, tool, result));
      }
    };

    child.on('close', settle);
    // A daemon that the tool starts in a session of its own (gpg-agent, for one) can keep the
    // output pipes open after the tool exits, and then 'close' comes only when the daemon ends.
    child.on('exit', (code, signal) => {
      // The tool itself has finished, so only the pipes are waited for from here.
      clearTimeout(timer);
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        settle(code, signal);
      }, EXIT_GRACE_MS).unref();
    });
  });
}

/** Returns the tool's own error text, scrubbed and cut to a readable length. */
export function toolMessage(result: RunResult): string {
  const text = (result.stderr.trim() || result.stdout.trim()).replace(/\s*\n\s*/g, ' | ');
  const scrubbed = scrub(text);
  return scrubbed.length > 800 ? `${scrubbed.slice(0, 800)}…` : scrubbed;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/**
 * Runs the action's main and post steps as the runner stand-in does, but reads their output as
 * it arrives and timestamps each line. `runTool` logs `::debug::$ <tool> <args>` just before it
 * starts a tool and the tool's output when it closes, so the time from that line to the next
 * one is the time of the tool, including the spawn from Node.js.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  inputVariable,
  parseFileCommand,
  readActionDefinition,
  type Job,
  type Stage,
} from '../__tests__/support/runner.js';

export interface TimedLine {
  /** Arrival time in ms after the step started. */
  ms: number;
  text: string;
}

export interface StreamedStep {
  exitCode: number | null;
  totalMs: number;
  lines: TimedLine[];
  /** Values that the step saved with `GITHUB_STATE`. */
  state: Record<string, string>;
}

let stepCount = 0;

/**
 * Runs main or post of the job's action with `inputs` (post also gets `state` as `STATE_*`) and
 * returns its timestamped output lines. `nodeOptions` go before the script, such as
 * `--cpu-prof`. Unlike `Job.runAction`, it does not carry `GITHUB_ENV` or `GITHUB_PATH` into the
 * job.
 */
export async function runStreamed(
  job: Job,
  stage: Stage,
  inputs: Record<string, string>,
  state: Record<string, string> = {},
  nodeOptions: string[] = [],
): Promise<StreamedStep> {
  const definition = await readActionDefinition(job.actionDir);
  const env: NodeJS.ProcessEnv = { ...job.env, GITHUB_ACTION: 'login' };
  for (const [name, defaultValue] of definition.inputs) {
    env[inputVariable(name)] = inputs[name] ?? defaultValue ?? '';
  }
  for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;

  stepCount += 1;
  const folder = join(job.runnerTemp, '_bench_file_commands');
  await mkdir(folder, { recursive: true });
  for (const name of ['ENV', 'PATH', 'OUTPUT', 'STATE', 'STEP_SUMMARY']) {
    const file = join(folder, `${name.toLowerCase()}_${stepCount}`);
    await writeFile(file, '');
    env[`GITHUB_${name}`] = file;
  }
  const script = join(job.actionDir, stage === 'main' ? definition.main : (definition.post ?? ''));
  const started = performance.now();
  const args = [...nodeOptions, script];
  const { exitCode, lines } = await streamLines(process.execPath, args, env, started);
  const totalMs = performance.now() - started;
  const stateFile = env.GITHUB_STATE as string;
  const saved = parseFileCommand(await readFile(stateFile, 'utf8'), stateFile);
  return { exitCode, totalMs, lines, state: Object.fromEntries(saved) };
}

function streamLines(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  started: number,
): Promise<{ exitCode: number | null; lines: TimedLine[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: TimedLine[] = [];
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const ms = performance.now() - started;
      const parts = (pending + chunk).split('\n');
      pending = parts.pop() ?? '';
      for (const text of parts) lines.push({ ms, text });
    });
    child.stderr.resume();
    child.once('error', reject);
    child.once('close', (code) => {
      if (pending) lines.push({ ms: performance.now() - started, text: pending });
      resolve({ exitCode: code, lines });
    });
  });
}

export interface ToolCall {
  /** Title of the log group the call ran in, or '(no group)'. */
  phase: string;
  /** The command with ids, digests and folders taken out, e.g. `gpg --batch --import`. */
  label: string;
  ms: number;
}

/** Extracts the tool calls of a step from its `::debug::$ ...` lines. */
export function toolCalls(lines: TimedLine[], registryAddress: string): ToolCall[] {
  const calls: ToolCall[] = [];
  let phase = '(no group)';
  lines.forEach((line, index) => {
    if (line.text.startsWith('::group::')) phase = line.text.slice('::group::'.length);
    else if (line.text.startsWith('::endgroup::')) phase = '(no group)';
    else if (line.text.startsWith('::debug::$ ')) {
      const next = lines[index + 1];
      if (!next) return;
      const command = line.text.slice('::debug::$ '.length).replaceAll(registryAddress, '<reg>');
      calls.push({
        phase: phase.replace(registryAddress, '<registry>'),
        label: label(command),
        ms: next.ms - line.ms,
      });
    }
  });
  return calls;
}

/** Shortens a logged command to a stable label: file names only, ids and digests replaced. */
function label(command: string): string {
  return command
    .split(' ')
    .slice(0, 4)
    .map((word) => (word.includes('/') ? basename(word) : word))
    .join(' ')
    .replace(/pass-login-[0-9a-f]{8}/g, 'pass-login-<id>')
    .replace(/\b[0-9A-F]{16,}\b/g, '<fingerprint>');
}

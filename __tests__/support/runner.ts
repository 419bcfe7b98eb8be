/**
 * A stand-in for the GitHub Actions runner. It runs the action's bundled main and post steps, and
 * plain commands as later steps, with one job's environment carried from step to step.
 *
 * It follows the behaviour of actions/runner on Linux. Inputs reach the action as `INPUT_<NAME>`
 * variables, with the defaults of action.yml filled in. Every step gets fresh file-command files
 * under `RUNNER_TEMP/_runner_file_commands`. `GITHUB_ENV` exports apply to later steps, and
 * `GITHUB_PATH` lines are prepended to PATH, the latest first. A post step gets the
 * `STATE_<name>` variables saved by the main step of the same action use.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { execute, findExecutable, type ExecResult } from './exec.js';
import { findProcessesMentioning, stopProcesses } from './inspect.js';

/** The checkout of this repository, whose action.yml and dist/ the job runs by default. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Variables of the test process that a runner machine would also pass to its steps. */
const MACHINE_VARIABLES = [
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
];

export interface ActionDefinition {
  /** Input names with their defaults. An input without a default maps to undefined. */
  inputs: Map<string, string | undefined>;
  using: string;
  main: string;
  post: string | undefined;
}

export interface JobOptions {
  /** Folder for HOME, RUNNER_TEMP, the tool cache and the workspace. Created when omitted. */
  root?: string;
  /**
   * HOME of the job, created if missing. Defaults to `<root>/home`. Runners of one machine that
   * run as one user share it. Keep a shared HOME outside every job's root, because `dispose`
   * stops the processes whose environment names the job's root.
   */
  home?: string;
  /** RUNNER_TOOL_CACHE, created if missing. Defaults to `<root>/tool-cache`. */
  toolCache?: string;
  /**
   * File mode creation mask of every step, such as 0o000, set by `/bin/bash` before the step's
   * command runs. Defaults to the test process's umask.
   */
  umask?: number;
  /** Job-level environment, e.g. DOCKER_HOST. */
  env?: Record<string, string>;
  /** PATH before any `GITHUB_PATH` addition. Defaults to the test process's PATH. */
  path?: string;
  /** Folder with action.yml. Defaults to this repository. */
  actionDir?: string;
  /** Each step's process group is killed after this many ms. */
  stepTimeoutMs?: number;
  /**
   * Runs every step as this user and group, and makes them the owner of the job's folders. The
   * test process must be root.
   */
  user?: { uid: number; gid: number };
}

export type Stage = 'main' | 'post';

export interface StepRecord {
  name: string;
  result: ExecResult;
  /** True for a step that prints a secret on purpose, such as a credential helper's `get`. */
  printsSecret: boolean;
}

export interface StepResult extends ExecResult {
  outputs: Record<string, string>;
  /** What the step saved with `GITHUB_STATE`. */
  state: Record<string, string>;
  /** What the step exported with `GITHUB_ENV`. */
  exportedEnv: Record<string, string>;
  /** What the step added with `GITHUB_PATH`, in file order. */
  addedPath: string[];
  /** What the step wrote to `GITHUB_STEP_SUMMARY`. */
  summary: string;
}

/** Changes to the environment of one step. */
export interface StepEnvOptions {
  /** Variables set for this step only, after all others; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** PATH before the `GITHUB_PATH` additions, for this step only. */
  basePath?: string;
  /** Called with the step's process id once it started, e.g. to send it a signal. */
  onSpawn?: (pid: number) => void;
}

export interface RunOptions extends StepEnvOptions {
  input?: string | Buffer;
  /** Marks the step in `Job.steps` as one whose output contains a secret on purpose. */
  printsSecret?: boolean;
}

export interface ActionRunOptions extends StepEnvOptions {
  /** The id of this use of the action; uses with the same id share inputs and state. */
  id?: string;
  /**
   * The `STATE_*` variables (without the prefix) that a post step gets in place of what main
   * saved, for tests of lost or altered state. With it, post may run without a main step.
   */
  state?: Record<string, string>;
}

interface ActionUse {
  inputs: Record<string, string>;
  state: Record<string, string>;
}

/**
 * Reads action.yml. All scalars are read as strings, as the runner does, so `default: true`
 * becomes the input value 'true'.
 */
export async function readActionDefinition(actionDir: string): Promise<ActionDefinition> {
  const file = join(actionDir, 'action.yml');
  const document = parse(await readFile(file, 'utf8'), { schema: 'failsafe' }) as {
    inputs?: Record<string, { default?: string } | null>;
    runs?: { using?: string; main?: string; post?: string };
  };
  const inputs = new Map<string, string | undefined>();
  for (const [name, spec] of Object.entries(document.inputs ?? {})) {
    inputs.set(name, spec?.default);
  }
  const runs = document.runs ?? {};
  if (!runs.using?.startsWith('node') || !runs.main) {
    throw new Error(`${file}: runs.using must be a node version and runs.main must be set.`);
  }
  return { inputs, using: runs.using, main: runs.main, post: runs.post };
}

/** Returns the runner's variable name for an input: upper case, spaces replaced by `_`. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/**
 * Parses a `GITHUB_ENV`, `GITHUB_OUTPUT` or `GITHUB_STATE` file the way the runner does on Linux:
 * `name=value` lines, and `name<<DELIMITER` followed by value lines and a line that is exactly the
 * delimiter. Lines end at `\n` only, so a `\r` stays in the value. Throws on a malformed file.
 */
export function parseFileCommand(text: string, file: string): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  let index = 0;
  const readLine = (): { line: string; newline: boolean } | undefined => {
    if (index >= text.length) return undefined;
    const start = index;
    const end = text.indexOf('\n', index);
    if (end < 0) {
      index = text.length;
      return { line: text.slice(start), newline: false };
    }
    index = end + 1;
    return { line: text.slice(start, end), newline: true };
  };

  for (let next = readLine(); next; next = readLine()) {
    const { line } = next;
    if (line.length === 0) continue;
    const equals = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    if (equals >= 0 && (heredoc < 0 || equals < heredoc)) {
      const name = line.slice(0, equals);
      if (name.length === 0) throw new Error(`${file}: empty name in line '${line}'.`);
      entries.push([name, line.slice(equals + 1)]);
    } else if (heredoc >= 0) {
      const name = line.slice(0, heredoc);
      const marker = line.slice(heredoc + 2);
      if (name.length === 0 || marker.length === 0) {
        throw new Error(`${file}: empty name or delimiter in line '${line}'.`);
      }
      const valueStart = index;
      let valueEnd = index;
      for (;;) {
        const valueLine = readLine();
        if (!valueLine) throw new Error(`${file}: delimiter '${marker}' of '${name}' not found.`);
        if (valueLine.line === marker) break;
        if (!valueLine.newline) throw new Error(`${file}: the last line of '${name}' has no \\n.`);
        valueEnd = index - 1;
      }
      entries.push([name, text.slice(valueStart, valueEnd)]);
    } else {
      throw new Error(`${file}: line '${line}' is neither 'name=value' nor 'name<<DELIMITER'.`);
    }
  }
  return entries;
}

/** The environment and PATH of one job, carried across its steps. */
export class Job {
  readonly steps: StepRecord[] = [];
  private readonly exported: Record<string, string> = {};
  /** `GITHUB_PATH` entries in the order added. The latest goes first on PATH. */
  private readonly prependedPath: string[] = [];
  private readonly uses = new Map<string, ActionUse>();
  private definition: ActionDefinition | undefined;
  private stepCount = 0;

  private constructor(
    readonly root: string,
    private readonly ownsRoot: boolean,
    private readonly jobEnv: Record<string, string>,
    private readonly basePath: string,
    readonly actionDir: string,
    private readonly stepTimeoutMs: number,
    private readonly user: { uid: number; gid: number } | undefined,
    readonly home: string,
    readonly toolCache: string,
    private readonly umask: number | undefined,
  ) {}

  /**
   * Creates the job's folders: `home`, `temp` (RUNNER_TEMP), `tool-cache` and `workspace`, the
   * first two unless the options name other folders.
   */
  static async create(options: JobOptions = {}): Promise<Job> {
    const ownsRoot = options.root === undefined;
    const root = options.root ?? (await mkdtemp(join(tmpdir(), 'dpl-job-')));
    // Without DOCKER_HOST the docker CLI would use the machine's daemon socket. A socket that
    // does not exist makes a test that omits DOCKER_HOST fail without side effects.
    const jobEnv = { DOCKER_HOST: `unix://${join(root, 'no-daemon.sock')}`, ...options.env };
    const job = new Job(
      root,
      ownsRoot,
      jobEnv,
      options.path ?? process.env.PATH ?? '/usr/bin:/bin',
      options.actionDir ?? REPO_ROOT,
      options.stepTimeoutMs ?? 120_000,
      options.user,
      options.home ?? join(root, 'home'),
      options.toolCache ?? join(root, 'tool-cache'),
      options.umask,
    );
    for (const folder of [job.home, job.runnerTemp, job.toolCache, job.workspace]) {
      await mkdir(folder, { recursive: true });
    }
    if (options.user) {
      for (const folder of [root, job.home, job.runnerTemp, job.toolCache, job.workspace]) {
        await chown(folder, options.user.uid, options.user.gid);
      }
    }
    return job;
  }

  get runnerTemp(): string {
    return join(this.root, 'temp');
  }

  get workspace(): string {
    return join(this.root, 'workspace');
  }

  /** PATH of the next step: the `GITHUB_PATH` additions, latest first, then the base PATH. */
  get path(): string {
    return [...this.prependedPath].reverse().concat(this.basePath).join(delimiter);
  }

  /** Variables exported so far with `GITHUB_ENV`. */
  get exportedEnv(): Record<string, string> {
    return { ...this.exported };
  }

  /**
   * Environment of the next step, without the per-step file-command variables. The test
   * process's own variables are left out (DOCKER_CONFIG, GNUPGHOME, PASSWORD_STORE_DIR, ...)
   * except for a few locale and user settings that a runner machine also has.
   */
  get env(): NodeJS.ProcessEnv {
    const machine: NodeJS.ProcessEnv = {};
    for (const name of MACHINE_VARIABLES) {
      if (process.env[name] !== undefined) machine[name] = process.env[name];
    }
    return {
      ...machine,
      ...this.jobEnv,
      ...this.exported,
      HOME: this.home,
      PATH: this.path,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: this.workspace,
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      RUNNER_TEMP: this.runnerTemp,
      RUNNER_TOOL_CACHE: this.toolCache,
    };
  }

  /**
   * Runs the action's main or post step for one use of the action in this job. A post step
   * gets the `STATE_*` variables of the main step with the same id, and by default the same
   * inputs, as the runner evaluates one `with:` block for both. Inputs not in action.yml are
   * rejected.
   */
  async runAction(
    stage: Stage,
    inputs?: Record<string, string>,
    options: ActionRunOptions = {},
  ): Promise<StepResult> {
    const id = options.id ?? 'login';
    const definition = await this.readDefinition();
    const use = this.uses.get(id);
    if (stage === 'main' && use) throw new Error(`The main step of use '${id}' already ran.`);
    if (stage === 'post' && !use && !options.state) {
      throw new Error(`Post of use '${id}' runs before its main.`);
    }
    const requestedInputs = inputs ?? use?.inputs ?? {};
    // The action downloads pass from `pass-mirror` only where the step's PATH has no pass.
    const passOnPath =
      findExecutable('pass', this.applyOptions(this.env, options).PATH) !== undefined;
    const resolvedInputs = resolveInputs(definition, requestedInputs, passOnPath);

    const script = stage === 'main' ? definition.main : definition.post;
    if (!script) throw new Error(`action.yml in ${this.actionDir} has no runs.post.`);
    const scriptPath = join(this.actionDir, script);
    if (!existsSync(scriptPath)) {
      throw new Error(`${scriptPath} not found: build the action first (npm run build).`);
    }

    const env: NodeJS.ProcessEnv = { ...this.env, GITHUB_ACTION: id };
    for (const [name, value] of Object.entries(resolvedInputs)) {
      env[inputVariable(name)] = value;
    }
    const state = stage === 'post' ? (options.state ?? use?.state ?? {}) : {};
    for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;

    const result = await this.runStep(
      `${stage} ${id}`,
      process.execPath,
      [scriptPath],
      this.applyOptions(env, options),
      { onSpawn: options.onSpawn },
    );
    if (stage === 'main') this.uses.set(id, { inputs: requestedInputs, state: result.state });
    return result;
  }

  /** Runs a command as a later workflow step, with the job's environment and PATH. */
  async run(command: string, args: string[] = [], options: RunOptions = {}): Promise<StepResult> {
    const name = [command, ...args].join(' ');
    return this.runStep(name, command, args, this.applyOptions(this.env, options), options);
  }

  /**
   * Stops processes that this job's steps left behind (any whose command line or environment
   * names the job's folder) and removes the folder if the job created it.
   */
  async dispose(): Promise<void> {
    const leftovers = await findProcessesMentioning(this.root);
    if (leftovers.length > 0) {
      const list = leftovers.map((entry) => `${entry.pid} ${entry.cmdline}`).join('; ');
      console.warn(`Stopping processes that job ${this.root} left running: ${list}`);
      await stopProcesses(leftovers.map((entry) => entry.pid));
    }
    if (this.ownsRoot) await rm(this.root, { recursive: true, force: true });
  }

  /** Applies a step's own PATH and variables to `env`. */
  private applyOptions(env: NodeJS.ProcessEnv, options: StepEnvOptions): NodeJS.ProcessEnv {
    const result: NodeJS.ProcessEnv = { ...env };
    if (options.basePath !== undefined) {
      result.PATH = [...this.prependedPath].reverse().concat(options.basePath).join(delimiter);
    }
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete result[name];
      else result[name] = value;
    }
    return result;
  }

  private async readDefinition(): Promise<ActionDefinition> {
    this.definition ??= await readActionDefinition(this.actionDir);
    return this.definition;
  }

  private async runStep(
    name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    options: RunOptions,
  ): Promise<StepResult> {
    this.stepCount += 1;
    const folder = join(this.runnerTemp, '_runner_file_commands');
    await mkdir(folder, { recursive: true });
    const files = {
      GITHUB_ENV: join(folder, `set_env_${this.stepCount}`),
      GITHUB_PATH: join(folder, `add_path_${this.stepCount}`),
      GITHUB_OUTPUT: join(folder, `set_output_${this.stepCount}`),
      GITHUB_STATE: join(folder, `save_state_${this.stepCount}`),
      GITHUB_STEP_SUMMARY: join(folder, `step_summary_${this.stepCount}`),
    };
    for (const file of Object.values(files)) await writeFile(file, '');
    if (this.user) {
      for (const path of [folder, ...Object.values(files)]) {
        await chown(path, this.user.uid, this.user.gid);
      }
    }

    // bash, not sh: dash drops variables whose names are not shell identifiers, such as
    // INPUT_HELPER-VERSION. `exec` keeps the process id, so the command leads its process group.
    const [program, programArgs] =
      this.umask === undefined
        ? [command, args]
        : [
            '/bin/bash',
            ['-c', `umask ${this.umask.toString(8)} && exec "$0" "$@"`, command, ...args],
          ];
    const result = await execute(program, programArgs, {
      env: { ...env, ...files },
      cwd: this.workspace,
      input: options.input,
      timeoutMs: this.stepTimeoutMs,
      onSpawn: options.onSpawn,
      user: this.user,
    });
    this.steps.push({ name, result, printsSecret: options.printsSecret ?? false });

    const exportedEnv = Object.fromEntries(await readFileCommand(files.GITHUB_ENV));
    // The runner refuses NODE_OPTIONS from GITHUB_ENV and goes on with the other variables.
    delete exportedEnv.NODE_OPTIONS;
    Object.assign(this.exported, exportedEnv);

    const addedPath = (await readFile(files.GITHUB_PATH, 'utf8'))
      .split(/\r\n|\r|\n/)
      .filter((line) => line.length > 0);
    for (const entry of addedPath) {
      const existing = this.prependedPath.indexOf(entry);
      if (existing >= 0) this.prependedPath.splice(existing, 1);
      this.prependedPath.push(entry);
    }

    return {
      ...result,
      outputs: Object.fromEntries(await readFileCommand(files.GITHUB_OUTPUT)),
      state: Object.fromEntries(await readFileCommand(files.GITHUB_STATE)),
      exportedEnv,
      addedPath,
      summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
    };
  }
}

/** Fills in action.yml defaults and checks that host inputs stay on the loopback interface. */
function resolveInputs(
  definition: ActionDefinition,
  requested: Record<string, string>,
  passOnPath: boolean,
): Record<string, string> {
  const unknown = Object.keys(requested).filter((name) => !definition.inputs.has(name));
  if (unknown.length > 0) {
    const known = [...definition.inputs.keys()].join(', ');
    throw new Error(`Inputs not in action.yml: ${unknown.join(', ')}. Known inputs: ${known}.`);
  }
  const resolved: Record<string, string> = {};
  for (const [name, defaultValue] of definition.inputs) {
    resolved[name] = requested[name] ?? defaultValue ?? '';
  }
  for (const [name, host] of hostsOf(resolved, passOnPath)) {
    if (!isLoopback(host)) {
      throw new Error(
        `Input '${name}' names '${host}', which is not a loopback address. Tests must reach ` +
          'only servers on this machine: pass a 127.0.0.1 address for it.',
      );
    }
  }
  return resolved;
}

/**
 * Returns the hosts that the inputs name, as [input name, host] pairs. The job rejects hosts that
 * are not on the loopback interface, so that a test that omits an input cannot send traffic to
 * its default (Docker Hub, GitHub). `registry` counts only when `registry-auth` is empty, because
 * the action then ignores it. `pass-mirror` counts only when the step's PATH has no `pass`,
 * because the action downloads pass only then, so tests with pass installed need not set it.
 */
function hostsOf(resolved: Record<string, string>, passOnPath: boolean): Array<[string, string]> {
  const hosts: Array<[string, string]> = [];
  if (resolved['helper-mirror'] !== undefined)
    hosts.push(['helper-mirror', resolved['helper-mirror']]);
  if (!passOnPath && resolved['pass-mirror'] !== undefined) {
    hosts.push(['pass-mirror', resolved['pass-mirror']]);
  }
  const registryAuth = resolved['registry-auth'] ?? '';
  if (registryAuth.trim() === '') {
    if (resolved.registry !== undefined) hosts.push(['registry', resolved.registry]);
    return hosts;
  }
  let entries: unknown;
  try {
    entries = parse(registryAuth, { schema: 'failsafe' });
  } catch {
    // NOTE: a list that is not valid YAML is passed on unchecked, so that tests can check how
    // the action rejects it. This relies on the action validating inputs before any download.
    return hosts;
  }
  if (!Array.isArray(entries)) return hosts;
  for (const entry of entries) {
    const registry = (entry as { registry?: unknown } | null)?.registry;
    // An entry without a registry means Docker Hub.
    hosts.push(['registry-auth', typeof registry === 'string' ? registry : 'docker.io']);
  }
  return hosts;
}

function isLoopback(value: string): boolean {
  const host = value.replace(/^[a-z]+:\/\//i, '').replace(/[/?#].*$/, '');
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$/i.test(host);
}

async function readFileCommand(file: string): Promise<Array<[string, string]>> {
  return parseFileCommand(await readFile(file, 'utf8'), file);
}

/**
 * End-to-end tests that the password, the base64 of `user:password` and the key's passphrase stay
 * out of every place where another process or a reader of the job log could see them. These are
 * command lines, the environment of processes that outlive a step, step output, and the runner's
 * file commands (GITHUB_STATE, GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).
 *
 * One job runs main, a push, a credential lookup and post, with shims on its PATH that record
 * every tool run and a poller that reads the command line of every process on the machine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { helperFor, loginInputs, startServices, type Services } from '../support/action.js';
import { createArgvRecorder, pollCommandLines } from '../support/argv.js';
import { describeResult } from '../support/exec.js';
import { findProcessesMentioning } from '../support/inspect.js';
import { Job, type StepResult } from '../support/runner.js';
import { maskedValues, passphraseOf, withoutMaskCommands } from '../support/secrets.js';
import { canRunDockerd, makeImage } from '../support/services.js';

const USER = 'watched';
// Shell metacharacters and a space make a leak through a command line or a script likely.
const PASSWORD = `w'at "ch" $x ${randomBytes(8).toString('hex')}`;

describe.skipIf(!canRunDockerd())('secrets stay out of sight', { timeout: 300_000 }, () => {
  let services: Services;
  let folder: string;
  let job: Job;
  let main: StepResult;
  let post: StepResult;
  /** Each secret form by name: what must never show. */
  let secrets: Record<string, string>;
  let shimRuns: string[][];
  let polledCommandLines: string[];
  /** The environment of each process that main left running, by command line. */
  let leftRunning: Array<{ cmdline: string; environ: string }>;

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
    folder = await mkdtemp(join(tmpdir(), 'dpl-argv-'));
    const basePath = process.env.PATH ?? '/usr/bin:/bin';
    const recorder = await createArgvRecorder(folder, basePath);
    job = await Job.create({
      env: { DOCKER_HOST: services.dockerd.host },
      path: `${recorder.binDir}${delimiter}${basePath}`,
    });

    const poller = pollCommandLines();
    try {
      main = await job.runAction(
        'main',
        loginInputs(services, services.registries[0], USER, PASSWORD),
      );
      leftRunning = [];
      for (const entry of await findProcessesMentioning(job.runnerTemp)) {
        try {
          const environ = await readFile(`/proc/${entry.pid}/environ`, 'utf8');
          leftRunning.push({ cmdline: entry.cmdline, environ });
        } catch {
          // The process exited in the meantime.
        }
      }
      const ref = `${services.registries[0].address}/watched:1`;
      await makeImage(services.dockerd.host, ref);
      await job.run('docker', ['push', ref]);
      const helper = await helperFor(main.outputs['config-dir'], services.registries[0].address);
      await job.run(helper ?? 'missing-helper', ['get'], {
        input: services.registries[0].address,
        printsSecret: true,
      });
      post = await job.runAction('post');
    } finally {
      polledCommandLines = await poller.stop();
    }
    shimRuns = await recorder.read();
    secrets = {
      password: PASSWORD,
      'base64 of the password': Buffer.from(PASSWORD).toString('base64'),
      'base64 of user:password': Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
      passphrase: passphraseOf(main),
    };
  });

  afterAll(async () => {
    await job?.dispose();
    if (folder) await rm(folder, { recursive: true, force: true });
    await services?.stop();
  });

  test('job logs in, pushes and cleans up', () => {
    expect(main.exitCode, describeResult(main)).toBe(0);
    const push = job.steps.find((step) => step.name.startsWith('docker push'));
    expect(push, 'docker push step').toBeDefined();
    expect(push?.result.exitCode, push && describeResult(push.result)).toBe(0);
    expect(post.exitCode, describeResult(post)).toBe(0);
  });

  test('recorder sees the secret handling', () => {
    const joined = shimRuns.map((run) => run.join(' '));
    expect(joined.some((run) => run.startsWith('gpg-preset-passphrase --preset '))).toBe(true);
    expect(joined.some((run) => run.startsWith('docker login --username'))).toBe(true);
    expect(joined.some((run) => run.startsWith('pass insert'))).toBe(true);
    expect(joined.some((run) => run.startsWith('gpg --batch --import'))).toBe(true);
    expect(polledCommandLines.some((line) => line.startsWith('gpg-agent '))).toBe(true);
  });

  test('no secret in any command line', () => {
    for (const [name, secret] of Object.entries(secrets)) {
      const shimmed = shimRuns.filter((run) => run.some((arg) => arg.includes(secret)));
      expect(
        shimmed.map((run) => run[0]),
        `recorded runs with the ${name}`,
      ).toEqual([]);
      const polled = polledCommandLines.filter((line) => line.includes(secret));
      expect(polled.length, `polled command lines with the ${name}`).toBe(0);
    }
  });

  test('agent environment has no secret', () => {
    expect(leftRunning.length, 'processes that main left running').toBeGreaterThan(0);
    for (const [name, secret] of Object.entries(secrets)) {
      const holders = leftRunning.filter((entry) => entry.environ.includes(secret));
      expect(
        holders.map((entry) => entry.cmdline),
        `processes left running with the ${name} in their environment`,
      ).toEqual([]);
    }
  });

  test('secrets are masked in main', () => {
    const masked = maskedValues(main);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(masked.includes(secret), `${name} masked`).toBe(true);
    }
  });

  test('no secret in step output', () => {
    expect(job.steps.length, 'steps run').toBe(4);
    for (const step of job.steps.filter((entry) => !entry.printsSecret)) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = withoutMaskCommands(step.result[stream]);
        for (const [name, secret] of Object.entries(secrets)) {
          expect(text.includes(secret), `${name} in ${stream} of '${step.name}'`).toBe(false);
        }
      }
    }
  });

  test('no secret in file commands', async () => {
    const commandsDir = join(job.runnerTemp, '_runner_file_commands');
    const contents = new Map<string, string>();
    for (const name of await readdir(commandsDir)) {
      contents.set(name, await readFile(join(commandsDir, name), 'utf8'));
    }
    // Each kind of file has content, so that the check below reads what the action wrote.
    const written = (prefix: string) =>
      [...contents].filter(([name, text]) => name.startsWith(prefix) && text.length > 0).length;
    expect(written('save_state_'), 'GITHUB_STATE files written').toBeGreaterThan(0);
    expect(written('set_env_'), 'GITHUB_ENV files written').toBeGreaterThan(0);
    expect(written('set_output_'), 'GITHUB_OUTPUT files written').toBeGreaterThan(0);
    expect(written('step_summary_'), 'GITHUB_STEP_SUMMARY files written').toBeGreaterThan(0);

    for (const [file, text] of contents) {
      for (const [name, secret] of Object.entries(secrets)) {
        expect(text.includes(secret), `${name} in ${file}`).toBe(false);
      }
    }
  });
});

/**
 * End-to-end tests of the job's Docker config folder against a user config that has proxies, a
 * current context made with `docker context create`, a CLI plugin and buildx state: later steps
 * keep all of them. Also the `config-dir` input, which edits an existing config.json in place
 * and restores it, or creates a config.json in a new folder and removes it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  helperFor,
  loginInputs,
  registryUsers,
  startServices,
  type Services,
} from '../support/action.js';
import { describeResult } from '../support/exec.js';
import { findProcessesMentioning, stopProcesses } from '../support/inspect.js';
import { Job, type StepResult } from '../support/runner.js';
import { canRunDockerd, makeImage } from '../support/services.js';

const USER = 'configured';
const PASSWORD = `configured-${randomBytes(8).toString('hex')}`;
const CONTEXT = 'ctx-test';
const PROXIES = {
  default: { httpProxy: 'http://127.0.0.1:3128', noProxy: '127.0.0.1,localhost' },
};
const PLUGIN_METADATA =
  '{"SchemaVersion":"0.1.0","Vendor":"test","Version":"1.0","ShortDescription":"hello"}';
const PLUGIN_GREETING = 'hello from the test plugin';

// A CLI plugin prints its metadata when run with `docker-cli-plugin-metadata`. docker then runs
// it with the subcommand name and the arguments.
const PLUGIN_SCRIPT = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  printf '%s\\n' '${PLUGIN_METADATA}'
  exit 0
fi
echo '${PLUGIN_GREETING}'
`;

describe.skipIf(!canRunDockerd())('job Docker config', { timeout: 300_000 }, () => {
  let services: Services;
  const jobs: Job[] = [];
  const folders: string[] = [];

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }, { [USER]: PASSWORD }]);
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) await job.dispose();
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  afterAll(async () => {
    await services?.stop();
  });

  async function newJob(): Promise<Job> {
    const job = await Job.create({ env: { DOCKER_HOST: services.dockerd.host } });
    jobs.push(job);
    return job;
  }

  function inputs(extra: Record<string, string> = {}): Record<string, string> {
    return loginInputs(services, services.registries[0], USER, PASSWORD, extra);
  }

  async function expectStep(job: Job, command: string, args: string[]): Promise<StepResult> {
    const result = await job.run(command, args);
    expect(result.exitCode, describeResult(result)).toBe(0);
    return result;
  }

  async function expectPushSucceeds(job: Job, repository: string): Promise<void> {
    const ref = `${services.registries[0].address}/${repository}:1`;
    await makeImage(services.dockerd.host, ref);
    await expectStep(job, 'docker', ['push', ref]);
    expect(await registryUsers(services.registries[0], repository)).toEqual([USER]);
  }

  /**
   * Gives the job's HOME a user Docker config: proxies, a CLI plugin, buildx state, and a
   * context made and selected with the docker CLI as a user would.
   */
  async function writeUserConfig(job: Job): Promise<string> {
    const dir = join(job.home, '.docker');
    await mkdir(join(dir, 'cli-plugins'), { recursive: true });
    await writeFile(join(dir, 'config.json'), `${JSON.stringify({ proxies: PROXIES })}\n`);
    await writeFile(join(dir, 'cli-plugins', 'docker-hello'), PLUGIN_SCRIPT, { mode: 0o755 });
    await mkdir(join(dir, 'buildx', 'instances'), { recursive: true });
    await writeFile(join(dir, 'buildx', 'instances', 'builder'), '{"Name":"builder"}\n');
    const host = `host=${services.dockerd.host}`;
    await expectStep(job, 'docker', ['context', 'create', CONTEXT, '--docker', host]);
    await expectStep(job, 'docker', ['context', 'use', CONTEXT]);
    return dir;
  }

  /**
   * Returns the name of the current context as the CLI resolves it without DOCKER_HOST, read from
   * its metadata in the context store. `docker context inspect` connects to no daemon.
   */
  async function currentContext(job: Job): Promise<StepResult> {
    return job.run('env', ['-u', 'DOCKER_HOST', 'docker', 'context', 'inspect', '-f', '{{.Name}}']);
  }

  test('plugin, context and proxies carry over', async () => {
    const job = await newJob();
    const userDir = await writeUserConfig(job);
    const userConfig = await readFile(join(userDir, 'config.json'));
    expect(JSON.parse(userConfig.toString()).currentContext, 'user currentContext').toBe(CONTEXT);

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(0);
    const configDir = main.outputs['config-dir'];
    expect(configDir.startsWith(`${job.runnerTemp}/`), configDir).toBe(true);

    const hello = await expectStep(job, 'docker', ['hello']);
    expect(hello.stdout).toContain(PLUGIN_GREETING);
    const contexts = await expectStep(job, 'docker', ['context', 'ls', '--format', '{{.Name}}']);
    expect(contexts.stdout.split('\n')).toContain(CONTEXT);
    const current = await currentContext(job);
    expect(current.stdout.trim(), describeResult(current)).toBe(CONTEXT);
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    expect(config.proxies).toEqual(PROXIES);
    const builder = await expectStep(job, 'cat', [
      join(configDir, 'buildx', 'instances', 'builder'),
    ]);
    expect(builder.stdout).toBe('{"Name":"builder"}\n');
    await expectPushSucceeds(job, 'carried');

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    const after = await readFile(join(userDir, 'config.json'));
    expect(after.equals(userConfig), 'user config.json unchanged').toBe(true);
  });

  test('config-dir edits ~/.docker in place', async () => {
    const job = await newJob();
    const userDir = join(job.home, '.docker');
    await mkdir(userDir);
    const file = join(userDir, 'config.json');
    // Tabs and an entry of another registry, which must come back byte for byte.
    const original = {
      auths: { 'other.example': { auth: Buffer.from('someone:else').toString('base64') } },
      proxies: PROXIES,
    };
    await writeFile(file, `${JSON.stringify(original, null, '\t')}\n`);
    await chmod(file, 0o640);
    const originalBytes = await readFile(file);

    const main = await job.runAction('main', inputs({ 'config-dir': '~/.docker' }));
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(main.outputs['config-dir']).toBe(userDir);
    expect(job.exportedEnv.DOCKER_CONFIG).toBe(userDir);
    const helper = await helperFor(userDir, services.registries[0].address);
    expect(helper, 'credential helper in ~/.docker/config.json').toMatch(/^docker-credential-/);
    await expectPushSucceeds(job, 'in-place');

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect((await readFile(file)).equals(originalBytes), 'config.json restored').toBe(true);
    expect(((await stat(file)).mode & 0o7777).toString(8), 'mode of config.json').toBe('640');
  });

  test('stale helper dropped after crash', async () => {
    const crashed = await newJob();
    const file = join(crashed.home, '.docker', 'config.json');
    await mkdir(join(crashed.home, '.docker'));
    await writeFile(file, `${JSON.stringify({ proxies: PROXIES })}\n`);
    const main = await crashed.runAction('main', inputs({ 'config-dir': '~/.docker' }));
    expect(main.exitCode, describeResult(main)).toBe(0);

    // The runner dies before post, then empties RUNNER_TEMP at the next job start.
    await stopProcesses((await findProcessesMentioning(crashed.runnerTemp)).map((p) => p.pid));
    for (const name of await readdir(crashed.runnerTemp)) {
      await rm(join(crashed.runnerTemp, name), { recursive: true, force: true });
    }

    // Only post undoes the edit in place, so the crashed job's helper stays in the user's file.
    const address = services.registries[0].address;
    const userConfig = JSON.parse(await readFile(file, 'utf8'));
    expect(userConfig.credHelpers?.[address]).toMatch(/^pass-login-[0-9a-f]{8}$/);

    // The next use of the action, for another registry, leaves that dead helper out.
    const next = await Job.create({
      root: crashed.root,
      env: { DOCKER_HOST: services.dockerd.host },
    });
    jobs.push(next);
    const other = services.registries[1];
    const nextMain = await next.runAction('main', loginInputs(services, other, USER, PASSWORD, {}));
    expect(nextMain.exitCode, describeResult(nextMain)).toBe(0);
    const jobConfigFile = join(nextMain.outputs['config-dir'], 'config.json');
    const jobConfig = JSON.parse(await readFile(jobConfigFile, 'utf8'));
    expect(jobConfig.credHelpers?.[address], 'dead helper in the job config').toBeUndefined();
    expect(jobConfig.credHelpers?.[other.address]).toMatch(/^pass-login-[0-9a-f]{8}$/);

    // docker then treats the first registry as one without credentials, not as a broken helper.
    const pull = await next.run('docker', ['pull', `${address}/missing:1`]);
    expect(`${pull.stdout}${pull.stderr}`).not.toMatch(/executable file not found/);
    const post = await next.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
  });

  test('empty config.json restored in place', async () => {
    const job = await newJob();
    const file = join(job.home, '.docker', 'config.json');
    await mkdir(join(job.home, '.docker'));
    await writeFile(file, '');

    const main = await job.runAction('main', inputs({ 'config-dir': '~/.docker' }));
    expect(main.exitCode, describeResult(main)).toBe(0);
    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('');
  });

  test('invalid config.json is left alone', async () => {
    const job = await newJob();
    const file = join(job.home, '.docker', 'config.json');
    await mkdir(join(job.home, '.docker'));
    await writeFile(file, '{"auths": ');

    const main = await job.runAction('main', inputs({ 'config-dir': '~/.docker' }));
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toMatch(/::error::Input 'config-dir' names .*is not valid JSON/);
    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('{"auths": ');
  });

  test('config-dir creates a fresh config.json', async () => {
    const job = await newJob();
    const parent = await mkdtemp(join(tmpdir(), 'dpl-cfg-'));
    folders.push(parent);
    const dir = join(parent, 'docker-config');

    const main = await job.runAction('main', inputs({ 'config-dir': dir }));
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(job.exportedEnv.DOCKER_CONFIG).toBe(dir);
    expect(existsSync(join(dir, 'config.json')), 'config.json after main').toBe(true);
    await expectPushSucceeds(job, 'fresh');

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(existsSync(join(dir, 'config.json')), 'config.json after post').toBe(false);
    expect(existsSync(dir), 'config-dir folder that main created, after post').toBe(false);
  });

  test('fresh config-dir keeps plugin and context', async () => {
    const job = await newJob();
    await writeUserConfig(job);
    const parent = await mkdtemp(join(tmpdir(), 'dpl-cfg-'));
    folders.push(parent);
    const dir = join(parent, 'docker-config');

    const main = await job.runAction('main', inputs({ 'config-dir': dir }));
    expect(main.exitCode, describeResult(main)).toBe(0);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config.currentContext, 'currentContext carried over').toBe(CONTEXT);
    const current = await currentContext(job);
    expect(current.exitCode, describeResult(current)).toBe(0);
    expect(current.stdout.trim()).toBe(CONTEXT);
    const hello = await job.run('docker', ['hello']);
    expect(hello.exitCode, describeResult(hello)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
  });
});

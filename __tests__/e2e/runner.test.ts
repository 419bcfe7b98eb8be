/**
 * Checks the runner stand-in against a small fixture action written to a temporary folder. The
 * tests cover input variables, both file-command forms, PATH handling, state per action use, the
 * isolation of the job's environment, and step timeouts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { describeResult } from '../support/exec.js';
import { Job, parseFileCommand, readActionDefinition, REPO_ROOT } from '../support/runner.js';

const FIXTURE_ACTION = `name: fixture
inputs:
  registry:
    default: 127.0.0.1:5000
  plain:
    description: no default
  with-default:
    default: fallback
  flag:
    default: true
  spaced name:
    default: x
runs:
  using: node20
  main: main.mjs
  post: post.mjs
`;

// Writes its INPUT_* variables to GITHUB_OUTPUT, values in both file-command forms to GITHUB_ENV,
// GITHUB_OUTPUT and GITHUB_STATE, and two lines to GITHUB_PATH.
const FIXTURE_MAIN = `import { appendFileSync } from 'node:fs';
const env = process.env;
const inputs = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('INPUT_')));
appendFileSync(env.GITHUB_OUTPUT, 'inputs<<EOF_1\\n' + JSON.stringify(inputs) + '\\nEOF_1\\nsimple=a=b\\n');
appendFileSync(env.GITHUB_ENV, 'FIXTURE_PLAIN=one=two\\nFIXTURE_MULTI<<END\\nline 1\\nline 2\\nEND\\n');
appendFileSync(env.GITHUB_ENV, 'NODE_OPTIONS=--require=/nonexistent\\n');
appendFileSync(env.GITHUB_PATH, '/fixture/' + env.INPUT_PLAIN + '/a\\n/fixture/' + env.INPUT_PLAIN + '/b\\n');
appendFileSync(env.GITHUB_STATE, 'use=' + env.INPUT_PLAIN + '\\nmulti<<S\\nx\\ny\\nS\\n');
console.log('main done');
`;

const FIXTURE_POST = `import { appendFileSync } from 'node:fs';
const env = process.env;
const seen = Object.fromEntries(
  Object.entries(env).filter(([name]) => /^(STATE_|INPUT_|FIXTURE_|PATH$)/.test(name)),
);
appendFileSync(env.GITHUB_OUTPUT, 'seen<<EOF_2\\n' + JSON.stringify(seen) + '\\nEOF_2\\n');
`;

describe('parseFileCommand', () => {
  test.each([
    ['name=value\n', [['name', 'value']]],
    ['name=a=b\n', [['name', 'a=b']]],
    ['name=\n', [['name', '']]],
    [
      'a=1\n\nb=2',
      [
        ['a', '1'],
        ['b', '2'],
      ],
    ],
    ['name<<EOF\nline 1\nline 2\nEOF\n', [['name', 'line 1\nline 2']]],
    ['name<<EOF\nEOF\n', [['name', '']]],
    ['name<<EOF\n\nEOF\n', [['name', '']]],
    ['name<<EOF\na=b<<c\nEOF', [['name', 'a=b<<c']]],
    ['name<<EOF\nx\r\nEOF\n', [['name', 'x\r']]],
    ['x<<A=B\n1\nA=B\n', [['x', '1']]],
  ])('parses %j', (text, expected) => {
    expect(parseFileCommand(text, 'file')).toEqual(expected);
  });

  test.each([
    ['name<<EOF\nvalue\n', /delimiter 'EOF' of 'name' not found/],
    ['name<<EOF\nvalue', /the last line of 'name' has no/],
    ['name<<EOF\nvalue\nEOF\r\n', /delimiter 'EOF' of 'name' not found/],
    ['=value\n', /empty name/],
    ['<<EOF\nEOF\n', /empty name or delimiter/],
    ['no separator\n', /neither/],
  ])('rejects %j', (text, message) => {
    expect(() => parseFileCommand(text, 'file')).toThrow(message);
  });
});

describe('readActionDefinition', () => {
  test('reads the inputs of this action', async () => {
    const definition = await readActionDefinition(REPO_ROOT);
    expect([...definition.inputs.keys()]).toEqual(
      expect.arrayContaining(['registry', 'username', 'password', 'logout', 'helper-version']),
    );
    expect(definition.inputs.get('logout')).toBe('true');
    expect(definition.main).toBe('dist/main/index.js');
  });
});

describe('Job', () => {
  let actionDir: string;
  const jobs: Job[] = [];
  const newJob = async (options: Parameters<typeof Job.create>[0] = {}) => {
    const job = await Job.create({ actionDir, ...options });
    jobs.push(job);
    return job;
  };

  beforeAll(async () => {
    actionDir = await mkdtemp(join(tmpdir(), 'dpl-fixture-'));
    await writeFile(join(actionDir, 'action.yml'), FIXTURE_ACTION);
    await writeFile(join(actionDir, 'main.mjs'), FIXTURE_MAIN);
    await writeFile(join(actionDir, 'post.mjs'), FIXTURE_POST);
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) await job.dispose();
  });

  afterAll(async () => {
    await rm(actionDir, { recursive: true, force: true });
  });

  test('main gets every input with defaults filled in', async () => {
    const job = await newJob();
    const main = await job.runAction('main', { plain: 'p' });
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(JSON.parse(main.outputs.inputs)).toEqual({
      INPUT_REGISTRY: '127.0.0.1:5000',
      INPUT_PLAIN: 'p',
      'INPUT_WITH-DEFAULT': 'fallback',
      INPUT_FLAG: 'true',
      INPUT_SPACED_NAME: 'x',
    });
    expect(main.outputs.simple).toBe('a=b');
  });

  test('input without default and not given is empty', async () => {
    const job = await newJob();
    const main = await job.runAction('main', {});
    expect(JSON.parse(main.outputs.inputs).INPUT_PLAIN).toBe('');
  });

  test('unknown input is rejected', async () => {
    const job = await newJob();
    await expect(job.runAction('main', { plian: 'typo' })).rejects.toThrow(
      /Inputs not in action.yml: plian/,
    );
  });

  test('registry input off loopback is rejected', async () => {
    const job = await newJob();
    await expect(job.runAction('main', { registry: 'docker.io' })).rejects.toThrow(
      /'registry' names 'docker.io', which is not a loopback address/,
    );
    expect(job.steps).toHaveLength(0);
  });

  test.each([
    ['- registry: ghcr.io\n  username: u\n  password: p\n', 'ghcr.io'],
    ['- registry: 127.0.0.1:5000\n  username: u\n  password: p\n- username: v\n', 'docker.io'],
  ])('registry-auth entry off loopback is rejected', async (list, host) => {
    const job = await newJob({ actionDir: REPO_ROOT });
    const inputs = { 'registry-auth': list, 'helper-mirror': 'http://127.0.0.1:1' };
    await expect(job.runAction('main', inputs)).rejects.toThrow(
      `Input 'registry-auth' names '${host}', which is not a loopback address`,
    );
    expect(job.steps).toHaveLength(0);
  });

  test("this action's default registry is rejected", async () => {
    const job = await newJob({ actionDir: REPO_ROOT });
    await expect(job.runAction('main', { username: 'u', password: 'p' })).rejects.toThrow(
      /not a loopback address/,
    );
    expect(job.steps).toHaveLength(0);
  });

  test('exports and PATH reach later steps', async () => {
    const job = await newJob({ path: '/usr/bin:/bin' });
    const main = await job.runAction('main', { plain: 'p' });
    expect(main.exportedEnv).toEqual({ FIXTURE_PLAIN: 'one=two', FIXTURE_MULTI: 'line 1\nline 2' });
    expect(main.addedPath).toEqual(['/fixture/p/a', '/fixture/p/b']);
    expect(job.path).toBe('/fixture/p/b:/fixture/p/a:/usr/bin:/bin');

    const printed = await job.run('sh', [
      '-c',
      'printf "%s|%s|%s" "$FIXTURE_PLAIN" "$PATH" "$NODE_OPTIONS"',
    ]);
    expect(printed.stdout).toBe('one=two|/fixture/p/b:/fixture/p/a:/usr/bin:/bin|');
  });

  test('a path added again moves to the front', async () => {
    const job = await newJob({ path: '/usr/bin:/bin' });
    await job.run('sh', ['-c', 'echo /one >> "$GITHUB_PATH"; echo /two >> "$GITHUB_PATH"']);
    await job.run('sh', ['-c', 'echo /one >> "$GITHUB_PATH"']);
    expect(job.path).toBe('/one:/two:/usr/bin:/bin');
  });

  test('post gets the state and inputs of its own use', async () => {
    const job = await newJob({ path: '/usr/bin:/bin' });
    await job.runAction('main', { plain: 'first' }, { id: 'first' });
    await job.runAction('main', { plain: 'second' }, { id: 'second' });
    const post = await job.runAction('post', undefined, { id: 'first' });
    expect(post.exitCode, describeResult(post)).toBe(0);

    const seen = JSON.parse(post.outputs.seen);
    expect(seen.STATE_use).toBe('first');
    expect(seen.STATE_multi).toBe('x\ny');
    expect(seen.INPUT_PLAIN).toBe('first');
    expect(seen.FIXTURE_MULTI).toBe('line 1\nline 2');
    expect(seen.PATH.split(':').slice(0, 4)).toEqual([
      '/fixture/second/b',
      '/fixture/second/a',
      '/fixture/first/b',
      '/fixture/first/a',
    ]);
  });

  test('post before main is rejected', async () => {
    const job = await newJob();
    await expect(job.runAction('post', undefined, { id: 'never-ran' })).rejects.toThrow(
      /before its main/,
    );
  });

  test('second main of one use is rejected', async () => {
    const job = await newJob();
    await job.runAction('main', { plain: 'p' });
    await expect(job.runAction('main', { plain: 'p' })).rejects.toThrow(/already ran/);
  });

  test('job env leaves out the test process variables', async () => {
    const names = ['DOCKER_CONFIG', 'GNUPGHOME', 'PASSWORD_STORE_DIR', 'DOCKER_HOST'];
    const saved = names.map((name) => process.env[name]);
    for (const name of names) process.env[name] = `/leaked/${name}`;
    try {
      const job = await newJob({ env: { EXTRA: 'job-level' } });
      const result = await job.run('env');
      expect(result.stdout).not.toContain('/leaked/');
      expect(result.stdout).toContain('EXTRA=job-level\n');
      expect(result.stdout).toContain(`HOME=${job.home}\n`);
      expect(result.stdout).toContain(`RUNNER_TEMP=${job.runnerTemp}\n`);
      expect(result.stdout).toContain(`RUNNER_TOOL_CACHE=${job.toolCache}\n`);
      expect(result.stdout).toContain(`DOCKER_HOST=unix://${job.root}/no-daemon.sock\n`);
      expect(result.stdout).toContain('GITHUB_ACTIONS=true\n');
    } finally {
      names.forEach((name, index) => {
        if (saved[index] === undefined) delete process.env[name];
        else process.env[name] = saved[index];
      });
    }
  });

  test('jobs can share HOME and tool cache', async () => {
    const shared = await mkdtemp(join(tmpdir(), 'dpl-shared-'));
    try {
      const options = { home: join(shared, 'home'), toolCache: join(shared, 'tools') };
      const first = await newJob(options);
      const second = await newJob(options);
      expect(second.home).toBe(first.home);
      expect(second.toolCache).toBe(first.toolCache);
      expect(second.runnerTemp).not.toBe(first.runnerTemp);
      const result = await second.run('sh', ['-c', 'printf "%s|%s" "$HOME" "$RUNNER_TOOL_CACHE"']);
      expect(result.stdout).toBe(`${options.home}|${options.toolCache}`);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });

  test('umask applies to every step', async () => {
    const job = await newJob({ umask: 0o000 });
    const step = await job.run('sh', ['-c', 'umask']);
    expect(step.stdout.trim()).toBe('0000');
    const main = await job.runAction('main', { plain: 'p' });
    expect(main.exitCode, describeResult(main)).toBe(0);
    // bash keeps INPUT_WITH-DEFAULT, a name that dash would drop from the environment.
    expect(JSON.parse(main.outputs.inputs)['INPUT_WITH-DEFAULT']).toBe('fallback');
  });

  test('file commands live in RUNNER_TEMP and start empty', async () => {
    const job = await newJob();
    const result = await job.run('sh', ['-c', 'echo "$GITHUB_ENV"; wc -c < "$GITHUB_STATE"']);
    const [envFile, stateBytes] = result.stdout.trim().split('\n');
    expect(envFile.startsWith(`${job.runnerTemp}/_runner_file_commands/`)).toBe(true);
    expect(stateBytes.trim()).toBe('0');
  });

  test('step timeout kills the step', async () => {
    const job = await newJob({ stepTimeoutMs: 300 });
    const result = await job.run('sleep', ['30']);
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGKILL');
  });

  test('background process holding stdout is reported', async () => {
    const job = await newJob();
    const result = await job.run('sh', ['-c', 'sleep 8 & echo started']);
    expect(result.exitCode).toBe(0);
    expect(result.stdioHeldOpen).toBe(true);
    expect(result.stdout).toBe('started\n');
  });
});

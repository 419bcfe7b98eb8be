/**
 * End-to-end tests of what the action leaves on disk while a job runs. A copy of RUNNER_TEMP, as
 * a backup or a later reader of the disk would take it, is useless without the passphrase that
 * lives only in gpg-agent. The files are owner-only whatever the runner's umask, so another user
 * gets nothing, and gpg-agent keeps its memory and environment from processes of its own user.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { loginInputs, startServices, workPathsOf, type Services } from '../support/action.js';
import { describeResult, execute, type ExecResult } from '../support/exec.js';
import {
  findInTree,
  findProcessesMentioning,
  stopProcesses,
  walkTree,
  type TreeEntry,
} from '../support/inspect.js';
import { Job, type JobOptions } from '../support/runner.js';
import { leakForms, passphraseOf } from '../support/secrets.js';
import { canRunDockerd, makeImage } from '../support/services.js';

const USER = 'keeper';
const PASSWORD = `keeper-${randomBytes(8).toString('hex')}`;

/**
 * Returns the modes that an entry may have: 0700 for folders, 0600 for files (0700 for the helper
 * wrapper in the bin folder), and no group or other bits on sockets.
 */
function ownerOnlyModes(entry: TreeEntry, workDir: string): number[] {
  // The programs the job runs: the helper wrapper (b), the verified helper copy (h), the pass
  // shim (x) and a downloaded pass (p).
  const programs = ['b', 'h', 'x', 'p'].map((name) => `${workDir}/${name}/`);
  switch (entry.type) {
    case 'directory':
      return [0o700];
    case 'file':
      return programs.some((folder) => entry.path.startsWith(folder)) ? [0o600, 0o700] : [0o600];
    case 'socket':
      return [0o600, 0o700];
    default:
      return [];
  }
}

describe.skipIf(!canRunDockerd())('files at rest', { timeout: 300_000 }, () => {
  let services: Services;
  const jobs: Job[] = [];
  const folders: string[] = [];

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) await job.dispose();
    for (const folder of folders.splice(0)) {
      // A gpg run on a copied GnuPG home starts an agent there.
      await stopProcesses((await findProcessesMentioning(folder)).map((entry) => entry.pid));
      await rm(folder, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    await services?.stop();
  });

  async function newJob(options: JobOptions = {}): Promise<Job> {
    const job = await Job.create({ env: { DOCKER_HOST: services.dockerd.host }, ...options });
    jobs.push(job);
    return job;
  }

  /** Runs gpg or gpgconf on the GnuPG home `home` only. */
  function gpgTool(
    tool: 'gpg' | 'gpgconf',
    home: string,
    args: string[],
    input?: string,
  ): Promise<ExecResult> {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home, HOME: home };
    return execute(tool, ['--homedir', home, ...args], { env, input, timeoutMs: 30_000 });
  }

  /** Returns the process id of the agent of `home` as text, or what gpg-connect-agent printed. */
  async function agentPid(home: string): Promise<string> {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home };
    const args = ['--homedir', home, '--no-autostart', 'GETINFO pid', '/bye'];
    const result = await execute('gpg-connect-agent', args, { env, timeoutMs: 30_000 });
    const data = /^D (\d+)$/m.exec(result.stdout);
    return data ? data[1] : `${result.stdout}${result.stderr}`;
  }

  test('copy of RUNNER_TEMP cannot decrypt', async () => {
    const job = await newJob();
    const main = await job.runAction(
      'main',
      loginInputs(services, services.registries[0], USER, PASSWORD),
    );
    expect(main.exitCode, describeResult(main)).toBe(0);
    const passphrase = passphraseOf(main);
    const paths = await workPathsOf(main);

    // A short path keeps the copied home's agent socket under the unix socket limit.
    const copy = await mkdtemp(join(tmpdir(), 'dpl-c-'));
    folders.push(copy);
    const copied = await execute('cp', ['-a', `${job.runnerTemp}/.`, copy], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 60_000,
    });
    expect(copied.exitCode, describeResult(copied)).toBe(0);
    const home = join(copy, relative(job.runnerTemp, paths.gnupgHome));
    const store = join(copy, relative(job.runnerTemp, paths.storeDir));

    // The job's agent, the only holder of the passphrase, is gone, as after a reboot.
    const killed = await gpgTool('gpgconf', paths.gnupgHome, ['--kill', 'gpg-agent']);
    expect(killed.exitCode, describeResult(killed)).toBe(0);
    await gpgTool('gpgconf', home, ['--kill', 'gpg-agent']);
    expect(await findProcessesMentioning(paths.gnupgHome), "the job's agent").toEqual([]);

    const entries = (await walkTree([store])).filter((entry) => entry.path.endsWith('.gpg'));
    expect(entries.length, 'encrypted entries in the copied store').toBe(1);
    const entry = entries[0].path;

    // The copied gpg.conf has no-autostart, so start a fresh agent on the copy as a reader would,
    // for the decryption to fail on the passphrase and not on a missing agent.
    const launched = await gpgTool('gpgconf', home, ['--launch', 'gpg-agent']);
    expect(launched.exitCode, describeResult(launched)).toBe(0);
    expect(await agentPid(home), 'agent of the copied home').toMatch(/^\d+$/);
    const emptyPassphrase = await gpgTool('gpg', home, [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--decrypt',
      entry,
    ]);
    expect(emptyPassphrase.exitCode, 'exit code with an empty passphrase').not.toBe(0);
    expect(emptyPassphrase.stdout, 'output with an empty passphrase').toBe('');
    expect(emptyPassphrase.stderr).toMatch(/No passphrase given/);
    const wrongPassphrase = await gpgTool(
      'gpg',
      home,
      ['--batch', '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--decrypt', entry],
      randomBytes(32).toString('hex'),
    );
    expect(wrongPassphrase.exitCode, 'exit code with a wrong passphrase').not.toBe(0);
    expect(wrongPassphrase.stdout, 'output with a wrong passphrase').toBe('');
    expect(wrongPassphrase.stderr).toMatch(/Bad passphrase/);
    const noPinentry = await gpgTool('gpg', home, ['--batch', '--decrypt', entry]);
    expect(noPinentry.exitCode, 'exit code through the failing pinentry').not.toBe(0);
    expect(noPinentry.stdout, 'output through the failing pinentry').toBe('');
    expect(noPinentry.stderr).toMatch(/No pinentry/);
    expect(await agentPid(home), 'agent of the copied home after the tries').toMatch(/^\d+$/);

    const secrets = [...leakForms(USER, PASSWORD), passphrase].map((text) => Buffer.from(text));
    expect(await findInTree([copy], secrets), 'copied files with a secret').toEqual([]);
    const stateFiles = (await readdir(join(job.runnerTemp, '_runner_file_commands')))
      .filter((name) => name.startsWith('save_state_'))
      .map((name) => join(job.runnerTemp, '_runner_file_commands', name));
    const state = (await Promise.all(stateFiles.map((file) => readFile(file, 'utf8')))).join('');
    expect(state, 'GITHUB_STATE of main').toContain('cleanup');
    expect(state.includes(passphrase), 'GITHUB_STATE contains the passphrase').toBe(false);

    // The copy is complete: with the passphrase it yields the password, so only that is missing.
    const withPassphrase = await gpgTool(
      'gpg',
      home,
      ['--batch', '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--decrypt', entry],
      passphrase,
    );
    expect(withPassphrase.exitCode, describeResult(withPassphrase)).toBe(0);
    expect(withPassphrase.stdout === PASSWORD, 'decrypted entry equals the password').toBe(true);
    await gpgTool('gpgconf', home, ['--kill', 'gpg-agent']);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
  });

  test('other user is locked out', async () => {
    const job = await newJob({ umask: 0o000 });
    const main = await job.runAction(
      'main',
      loginInputs(services, services.registries[0], USER, PASSWORD),
    );
    expect(main.exitCode, describeResult(main)).toBe(0);
    const paths = await workPathsOf(main);
    // A runner's work folders are world-readable, so only the action's own modes keep others out.
    await chmod(job.root, 0o755);
    await chmod(job.runnerTemp, 0o755);
    const asNobody = (command: string, args: string[], env: Record<string, string> = {}) =>
      execute('runuser', ['-u', 'nobody', '--', command, ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        timeoutMs: 30_000,
      });

    const listTemp = await asNobody('ls', [job.runnerTemp]);
    expect(listTemp.exitCode, describeResult(listTemp)).toBe(0);
    const listWork = await asNobody('ls', [paths.workDir]);
    expect(listWork.exitCode, 'exit code of ls of the work folder').not.toBe(0);
    for (const file of [
      join(paths.configDir, 'config.json'),
      join(paths.gnupgHome, 'pubring.kbx'),
    ]) {
      const read = await asNobody('cat', [file]);
      expect(read.exitCode, `exit code of cat ${file}`).not.toBe(0);
    }
    const helper = await asNobody(paths.wrapper, ['get']);
    expect(helper.exitCode, 'exit code of the helper wrapper').not.toBe(0);
    expect(helper.stdout).not.toContain(PASSWORD);
    const agent = await asNobody('gpg-connect-agent', ['--no-autostart', 'GETINFO pid', '/bye'], {
      GNUPGHOME: paths.gnupgHome,
    });
    expect(agent.stdout, 'agent reply to another user').not.toMatch(/^D \d+$/m);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
  });

  test('agent is closed to its own user', async () => {
    // Another process of the same user can reach the agent's socket but not its memory or its
    // environment: gpg-agent makes itself non-dumpable, so its /proc files belong to root.
    const folder = await mkdtemp(join(tmpdir(), 'dpl-nd-'));
    folders.push(folder);
    const nobody = await execute('id', ['-u', 'nobody'], { env: { PATH: process.env.PATH } });
    await chown(folder, Number(nobody.stdout.trim()), 0);
    const home = join(folder, 'g');
    const asNobody = (script: string) =>
      execute('runuser', ['-u', 'nobody', '--', 'sh', '-c', script, 'sh', home], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        timeoutMs: 30_000,
      });

    const launched = await asNobody(
      'mkdir -m 700 "$1" && gpgconf --homedir "$1" --launch gpg-agent',
    );
    expect(launched.exitCode, describeResult(launched)).toBe(0);
    const agents = await findProcessesMentioning(home);
    expect(agents.length, 'agents started as nobody').toBe(1);
    const pid = agents[0].pid;
    const readAgent = await asNobody(`cat /proc/${pid}/environ`);
    expect(readAgent.exitCode, 'exit code of reading the agent environment').not.toBe(0);
    const readMaps = await asNobody(`cat /proc/${pid}/maps`);
    expect(readMaps.exitCode, 'exit code of reading the agent memory map').not.toBe(0);
    const memOwner = await asNobody(`stat -c %u /proc/${pid}/mem`);
    expect(memOwner.stdout.trim(), 'owner of the agent memory file').toBe('0');
    // The same read works on an ordinary process of that user.
    const readSibling = await asNobody('sleep 5 & cat "/proc/$!/environ"; kill $!');
    expect(readSibling.exitCode, describeResult(readSibling)).toBe(0);
    await asNobody('gpgconf --homedir "$1" --kill gpg-agent');
  });

  test('files are owner-only under umask 000', async () => {
    const job = await newJob({ umask: 0o000 });
    const umask = await job.run('sh', ['-c', 'umask']);
    expect(umask.stdout.trim(), "the job's umask").toBe('0000');

    const main = await job.runAction(
      'main',
      loginInputs(services, services.registries[0], USER, PASSWORD),
    );
    expect(main.exitCode, describeResult(main)).toBe(0);
    // A later step under the same umask runs the helper, gpg and pass again.
    const ref = `${services.registries[0].address}/modes:1`;
    await makeImage(services.dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);

    const paths = await workPathsOf(main);
    const loose: string[] = [];
    for (const entry of await walkTree([paths.workDir])) {
      const mode = (await lstat(entry.path)).mode & 0o777;
      const allowed = ownerOnlyModes(entry, paths.workDir);
      if (!allowed.includes(mode)) loose.push(`${entry.type} ${mode.toString(8)} ${entry.path}`);
    }
    expect(loose, 'entries that are not owner-only').toEqual([]);
    const privateFolders = [paths.workDir, paths.gnupgHome, paths.storeDir, paths.configDir];
    for (const folder of privateFolders) {
      expect(((await lstat(folder)).mode & 0o777).toString(8), folder).toBe('700');
    }

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
  });
});

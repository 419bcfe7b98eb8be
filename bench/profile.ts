/**
 * `npx vite-node bench/profile.ts`: shows where the time of main, post and a credential `get`
 * goes, on the same real components as `npm run bench`.
 *
 * Options: `--runs N` (default 5), the main and post runs to take the medians of, and `--calls N`
 * (default 20), the runs of each command in the `get` breakdown and the load timings.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { execute, findExecutable } from '../__tests__/support/exec.js';
import type { Job } from '../__tests__/support/runner.js';
import {
  builtinsLoaded,
  publicModules,
  buildStubs,
  fileBytes,
  profileLoad,
  timeKeyGeneration,
  timeLoads,
} from './bundle.js';
import { generateTestKey, passDecryptArgs, prepareHome, timeGpgKeyGeneration } from './gnupg.js';
import {
  checkCredential,
  createJob,
  disposeJob,
  findHelperSetup,
  helperEnv,
  loadTargets,
  loginInputs,
  startServices,
  storedEntry,
  timeAction,
  timeCommand,
  withCleanup,
  type CleanupStack,
  type HelperSetup,
  type Services,
  withoutMasks,
} from './harness.js';
import { describeMachine, loadAverage } from './machine.js';
import { formatMs, median, renderTable, Samples, summaryRows } from './stats.js';
import { runStreamed, toolCalls, type StreamedStep } from './timeline.js';

interface Options {
  runs: number;
  calls: number;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      calls: { type: 'string', default: '20' },
    },
  });
  const runs = Number(values.runs);
  const calls = Number(values.calls);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(calls) || calls < 1) {
    throw new Error(`--runs and --calls must be positive integers, got ${runs} and ${calls}.`);
  }
  return { runs, calls };
}

const TABLE_HEADER = ['measurement', 'n', 'median', 'min', 'max'];
const NUMBER_COLUMNS = [1, 2, 3, 4];

/**
 * Adds one sample per row of a step's timeline to `samples`, under keys that keep the phases
 * apart, and records each key's display label in `labels`.
 */
function addTimeline(
  samples: Samples,
  labels: Map<string, string>,
  stage: string,
  step: StreamedStep,
  registryAddress: string,
): void {
  const add = (key: string, label: string, ms: number) => {
    samples.add(`${stage}\u0000${key}`, ms);
    labels.set(`${stage}\u0000${key}`, label);
  };
  const { lines } = step;
  add(
    'start',
    `${stage}: start to first log line (Node.js start, bundle load, inputs)`,
    lines[0]?.ms ?? NaN,
  );

  const calls = toolCalls(lines, registryAddress);
  const groups: Array<{ title: string; ms: number }> = [];
  let opened: { title: string; ms: number } | undefined;
  for (const line of lines) {
    if (line.text.startsWith('::group::')) {
      opened = { title: line.text.slice('::group::'.length), ms: line.ms };
    } else if (line.text.startsWith('::endgroup::') && opened) {
      const title = opened.title.replace(registryAddress, '<registry>');
      groups.push({ title, ms: line.ms - opened.ms });
      opened = undefined;
    }
  }
  for (const group of groups) {
    add(group.title, `${stage} › ${group.title}`, group.ms);
    const inGroup = calls.filter((call) => call.phase === group.title);
    const seen = new Map<string, number>();
    for (const call of inGroup) {
      const count = (seen.get(call.label) ?? 0) + 1;
      seen.set(call.label, count);
      const suffix = count > 1 ? ` (call ${count})` : '';
      add(`${group.title}\u0000${call.label}${suffix}`, `    ${call.label}${suffix}`, call.ms);
    }
    const toolsMs = inGroup.reduce((sum, call) => sum + call.ms, 0);
    add(
      `${group.title}\u0000rest`,
      '    rest of the group (work inside Node.js)',
      group.ms - toolsMs,
    );
  }
  const last = lines[lines.length - 1]?.ms ?? NaN;
  add('exit', `${stage}: last log line to exit`, step.totalMs - last);
  add('total', `${stage}: wall time`, step.totalMs);
}

/** Runs main and post `runs` times in jobs with a warm tool cache and prints their timelines. */
async function profileSteps(services: Services, cleanup: CleanupStack, options: Options) {
  const warmCache = join(services.root, 'warm-tool-cache');
  await mkdir(warmCache);
  const samples = new Samples();
  const labels = new Map<string, string>();
  const inputs = loginInputs(services);
  const { address } = services.registry;
  // The first, unrecorded run fills the warm tool cache.
  for (let run = 0; run <= options.runs; run++) {
    const job = await createJob(services, cleanup, { toolCache: warmCache });
    try {
      const main = await runStreamed(job, 'main', inputs);
      if (main.exitCode !== 0) throw new Error(`main failed:\n${joinLines(main)}`);
      const post = await runStreamed(job, 'post', inputs, main.state);
      if (post.exitCode !== 0) throw new Error(`post failed:\n${joinLines(post)}`);
      if (run > 0) {
        addTimeline(samples, labels, 'main', main, address);
        addTimeline(samples, labels, 'post', post, address);
      }
    } finally {
      await disposeJob(job);
    }
  }
  console.log(`\n## Main and post, warm tool cache: ${options.runs} runs, times in ms\n`);
  console.log(
    'Each tool call runs from its `::debug::$` log line to the next log line. The rest of a ' +
      'group is what runs inside Node.js, such as key generation, hashing and file writes.\n',
  );
  const rows = summaryRows(samples, samples.names(), labels);
  console.log(renderTable(TABLE_HEADER, rows, NUMBER_COLUMNS));
}

function joinLines(step: StreamedStep): string {
  return withoutMasks(step.lines.map((line) => line.text).join('\n'));
}

/**
 * Lists the programs one `get` through the wrapper starts, from `strace -ff -e trace=execve`
 * (one trace file per process, in process id order).
 */
async function programsOfGet(job: Job, wrapper: string, services: Services): Promise<string[]> {
  const folder = join(job.root, 'strace');
  await mkdir(folder);
  const args = ['-ff', '-qq', '-s', '512', '-e', 'trace=execve', '-o', join(folder, 'get')];
  const result = await execute('strace', [...args, wrapper, 'get'], {
    env: job.env,
    input: services.registry.address,
    timeoutMs: 30_000,
  });
  if (result.exitCode !== 0) return [`strace failed: ${result.stderr.trim()}`];
  const files = (await readdir(folder)).sort(
    (a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()),
  );
  const programs: string[] = [];
  for (const file of files) {
    for (const line of (await readFile(join(folder, file), 'utf8')).split('\n')) {
      const match = /^execve\("([^"]+)", \[([^\]]*)\].*= 0$/.exec(line);
      if (!match) continue;
      const argv = match[2].split(', ').map((word) => word.replace(/^"|"$/g, ''));
      programs.push([basename(match[1]), ...argv.slice(1, 3)].join(' '));
    }
  }
  return programs;
}

/**
 * Writes a prototype `pass` into `folder` that handles the two commands docker-credential-pass
 * runs on every call. For `ls` the helper checks only the exit status, and `show` becomes the
 * `gpg --decrypt` that pass runs. Other commands go to the real pass.
 */
async function writePassShim(folder: string, realPass: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  const script = [
    '#!/bin/sh',
    'if [ "$1" = ls ] && [ $# -eq 1 ] && [ -f "$PASSWORD_STORE_DIR/.gpg-id" ]; then exit 0; fi',
    'if [ "$1" = show ] && [ $# -eq 2 ]; then',
    '  exec gpg -d $PASSWORD_STORE_GPG_OPTS --quiet --yes --compress-algo=none --no-encrypt-to \\',
    '    "$PASSWORD_STORE_DIR/$2.gpg"',
    'fi',
    `exec '${realPass}' "$@"`,
    '',
  ].join('\n');
  await writeFile(join(folder, 'pass'), script, { mode: 0o700 });
}

/** The commands of the `get` breakdown, each run with the environment the wrapper sets up. */
function getCommands(
  job: Job,
  setup: HelperSetup,
  entry: string,
  shimFolder: string,
): Array<[string, string, string[], NodeJS.ProcessEnv]> {
  const env = helperEnv(job.env, setup);
  const { wrapper, helperPath: helper, storeDir } = setup;
  const shimEnv = { ...env, PATH: `${shimFolder}:${env.PATH ?? ''}` };
  const name = entry.slice(storeDir.length + 1).replace(/\.gpg$/, '');
  return [
    ['spawn from Node.js: `/bin/true`', '/bin/true', [], env],
    ['`sh -c :` (the wrapper shell)', 'sh', ['-c', ':'], env],
    ['`bash -c :` (the pass shell)', 'bash', ['-c', ':'], env],
    ['wrapper `get` (what docker runs)', wrapper, ['get'], job.env],
    ['`docker-credential-pass get` without the wrapper', helper, ['get'], env],
    ['prototype: the same with the `pass` shim first on PATH', helper, ['get'], shimEnv],
    ['`pass ls` (the helper runs it first on every call)', 'pass', ['ls'], env],
    ['`pass show <entry>` (the helper runs it second)', 'pass', ['show', name], env],
    ['`pass version` (bash start and pass preamble, no gpg)', 'pass', ['version'], env],
    [
      '`tree` of the store (what `pass ls` runs)',
      'tree',
      ['-N', '-C', '-l', '--noreport', storeDir],
      env,
    ],
    ['`gpg --decrypt` of the entry, as pass runs it', 'gpg', passDecryptArgs(entry), env],
    ['`gpg --version` (gpg start, no agent)', 'gpg', ['--version'], env],
    [
      '`gpg-connect-agent /bye` (agent round trip)',
      'gpg-connect-agent',
      ['--no-autostart', '/bye'],
      env,
    ],
  ];
}

/**
 * Logs in once in a warm job and times a `get` and each part of it, interleaved. Returns the
 * gpg-agent.conf that main wrote, for the S2K comparison.
 */
async function profileGet(
  services: Services,
  cleanup: CleanupStack,
  options: Options,
): Promise<string> {
  const job = await createJob(services, cleanup);
  try {
    const main = await timeAction(job, 'main', loginInputs(services));
    const setup = await findHelperSetup(main.result, services.registry.address);
    const { wrapper, helperPath: helper } = setup;
    const agentConf = await readFile(join(setup.gnupgHome, 'gpg-agent.conf'), 'utf8');
    const entry = await storedEntry(setup.storeDir, services.registry.address);
    const realPass = findExecutable('pass', job.env.PATH);
    if (!realPass) throw new Error('pass not found on the job PATH.');
    const shimFolder = join(job.root, 'pass-shim');
    await writePassShim(shimFolder, realPass);
    const commands = getCommands(job, setup, entry, shimFolder);
    const input = services.registry.address;

    const samples = new Samples();
    let expected: string | undefined;
    for (let call = 0; call <= options.calls; call++) {
      for (const [label, command, args, env] of commands) {
        const secretOutput =
          command === wrapper || command === helper || args[0] === 'show' || args[0] === '-d';
        const { ms, result } = await timeCommand(command, args, env, input, { secretOutput });
        if (command === wrapper || command === helper) {
          // Every helper variant must return the same credential. It is never printed.
          checkCredential(result, services.username);
          expected ??= result.stdout;
          if (result.stdout !== expected) throw new Error(`${label} returned another credential.`);
        }
        if (call > 0) samples.add(label, ms);
      }
    }
    const programs = await programsOfGet(job, wrapper, services);
    await timeAction(job, 'post');

    console.log(`\n## One credential \`get\` and its parts: ${options.calls} calls each, in ms\n`);
    const rows = summaryRows(samples, samples.names());
    console.log(renderTable(TABLE_HEADER, rows, NUMBER_COLUMNS));
    console.log(`\nPrograms that one wrapper \`get\` starts (${programs.length}, from strace):\n`);
    for (const program of programs) console.log(`- ${program}`);
    return agentConf;
  } finally {
    await disposeJob(job);
  }
}

/** Times `gpg --decrypt` at main's agent settings and with gpg-agent's default s2k-count. */
async function profileS2k(
  services: Services,
  cleanup: CleanupStack,
  options: Options,
  agentConf: string,
): Promise<void> {
  const key = await generateTestKey();
  const defaultConf = agentConf
    .split('\n')
    .filter((line) => !line.startsWith('s2k-count'))
    .join('\n');
  const homes: Array<[string, string]> = [
    ["`gpg --decrypt`, main's gpg-agent.conf", agentConf],
    ["`gpg --decrypt`, main's gpg-agent.conf without `s2k-count` (agent default)", defaultConf],
  ];
  const prepared = [];
  for (const [index, [label, conf]] of homes.entries()) {
    const home = join(services.root, `s2k-${index}`);
    prepared.push({ label, ...(await prepareHome(home, conf, key, cleanup)) });
  }
  const samples = new Samples();
  for (let call = 0; call <= options.calls; call++) {
    for (const { label, env, file } of prepared) {
      const { ms } = await timeCommand('gpg', passDecryptArgs(file), env);
      if (call > 0) samples.add(label, ms);
    }
  }
  console.log(`\n## S2K cost of one decryption: ${options.calls} calls each, in ms\n`);
  console.log(`main's gpg-agent.conf:\n\n\`\`\`\n${agentConf.trim()}\n\`\`\`\n`);
  console.log(renderTable(TABLE_HEADER, summaryRows(samples, samples.names()), NUMBER_COLUMNS));
}

/** Times generating the key with gpg in new homes, as an alternative to openpgp and an import. */
async function profileGpgKeyGeneration(
  services: Services,
  cleanup: CleanupStack,
  options: Options,
  agentConf: string,
): Promise<void> {
  const samples = new Samples();
  for (let run = 0; run < options.runs; run++) {
    const home = join(services.root, `keygen-${run}`);
    for (const [step, ms] of await timeGpgKeyGeneration(home, agentConf, cleanup)) {
      samples.add(step, ms);
    }
  }
  console.log(`\n## Key generation with gpg itself, main's agent settings: ${options.runs} runs\n`);
  console.log(renderTable(TABLE_HEADER, summaryRows(samples, samples.names()), NUMBER_COLUMNS));
}

/** Prints load times of the bundles and of stub bundles, CPU profiles and openpgp's costs. */
async function profileBundle(services: Services, cleanup: CleanupStack, options: Options) {
  const probe = await createJob(services, cleanup);
  const env = probe.env;
  await disposeJob(probe);
  const folder = join(services.root, 'bundle');
  const targets = await loadTargets(services);
  const stubs = await buildStubs(join(folder, 'stubs'));
  const loads = await timeLoads(targets, stubs, env, options.calls);
  const startMs = median(loads.get('`node -e 0`'));

  console.log(`\n## Bundle load: ${options.calls} runs each, in ms\n`);
  console.log(
    'Stubs are bundled with the flags of `npm run build`. The last column is the median ' +
      'minus that of `node -e 0`.\n',
  );
  const sizes = new Map<string, number>();
  for (const [label, script] of targets) sizes.set(label, await fileBytes(script));
  for (const [name, bundle] of stubs) sizes.set(name, await fileBytes(bundle));
  const rows = summaryRows(loads, loads.names()).map((row) => {
    const bytes = sizes.get(row[0]);
    return [...row, bytes === undefined ? '' : String(bytes), formatMs(Number(row[2]) - startMs)];
  });
  console.log(
    renderTable([...TABLE_HEADER, 'bytes', 'minus node'], rows, [...NUMBER_COLUMNS, 5, 6]),
  );

  for (const [index, target] of targets.entries()) {
    const profile = await profileLoad(target, join(folder, `profile-${index}`), env);
    console.log(
      `\n### CPU profile: ${target[0]} (${formatMs(profile.totalMs)} ms profiled; ` +
        'sampling slows Node.js down)\n',
    );
    const frames = profile.frames.slice(0, 10).map(([frame, ms]) => [frame, formatMs(ms)]);
    console.log(renderTable(['frame (self time)', 'ms'], frames, [1]));
    const builtins = await builtinsLoaded(target, join(folder, `modules-${index}`), env);
    const visible = publicModules(builtins);
    console.log(
      `\nBuilt-in modules it loads beyond \`node -e 0\`: ${builtins.length}, of which ` +
        `${visible.length} public: ${visible.join(', ')}`,
    );
  }

  const keygen = await timeKeyGeneration(env);
  console.log('\n### openpgp in a new Node.js process, in ms\n');
  const keygenRows = keygen.map(([step, ms]) => [step, formatMs(ms)]);
  console.log(renderTable(['step', 'ms'], keygenRows, [1]));
}

async function profile(cleanup: CleanupStack): Promise<void> {
  const options = readOptions();
  console.log('## Machine\n');
  console.log(renderTable(['item', 'value'], await describeMachine()));
  const services = await startServices(cleanup);
  await profileSteps(services, cleanup, options);
  const agentConf = await profileGet(services, cleanup, options);
  await profileS2k(services, cleanup, options, agentConf);
  await profileGpgKeyGeneration(services, cleanup, options, agentConf);
  await profileBundle(services, cleanup, options);
  console.log(`\nLoad average at the end (1, 5, 15 min): ${loadAverage()}`);
}

await withCleanup(profile);
// Stopping a daemon leaves its grace-period timer running for up to 20 s, so exit now.
process.exit();

/**
 * `npm run bench`: times the bundled action (dist/) against a bare `docker login` on real
 * components, and prints the medians with the machine they ran on.
 *
 * Every round runs each variant once, in the same order, so that machine noise hits all of them
 * alike. Options: `--rounds N` (default 7) and `--gets N`, the credential lookups per round
 * (default 3).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkCredential,
  createJob,
  disposeJob,
  dockerOnlyPath,
  findHelperSetup,
  loadTargets,
  loginInputs,
  parsePhases,
  startServices,
  timeAction,
  timeCommand,
  timeStep,
  withCleanup,
  type CleanupStack,
  type Services,
} from './harness.js';
import { describeMachine, loadAverage } from './machine.js';
import { formatMs, median, renderTable, Samples, summaryRows } from './stats.js';

/** Targets of the action: warm main+post within 9 times the bare login, a `get` within 40 ms. */
const MAX_RATIO = 9;
const MAX_GET_MS = 40;

const ROWS: Array<[string, string]> = [
  ['node', '`node -e 0` (Node.js start)'],
  ['post bundle, no saved state', 'post bundle, no saved state (logs one line)'],
  ['post bundle, no saved state-only', '  minus `node -e 0`'],
  ['main bundle, empty password', 'main bundle, empty password (fails at input validation)'],
  ['main bundle, empty password-only', '  minus `node -e 0`'],
  ['warm', 'action main + post, warm tool cache'],
  ['warm-main', '  main'],
  ['warm-post', '  post'],
  ['cold', 'action main + post, cold tool cache'],
  ['cold-main', '  main'],
  ['cold-post', '  post'],
  ['bare', 'bare `docker login` + `docker logout` (floor)'],
  ['bare-login', '  login'],
  ['bare-logout', '  logout'],
  ['get', 'one credential `get` through the helper wrapper'],
];

interface Options {
  rounds: number;
  gets: number;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      gets: { type: 'string', default: '3' },
    },
  });
  const rounds = Number(values.rounds);
  const gets = Number(values.gets);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(gets) || gets < 1) {
    throw new Error(`--rounds and --gets must be positive integers, got ${rounds} and ${gets}.`);
  }
  return { rounds, gets };
}

/** Shared state of all rounds: the services, the options and the samples so far. */
interface Bench {
  services: Services;
  cleanup: CleanupStack;
  options: Options;
  samples: Samples;
  warmPhases: Samples;
  coldPhases: Samples;
  /** Tool cache that every warm run links to; the warm-up run fills it. */
  warmCache: string;
  /** PATH with the docker CLI alone, so that the bare login stores a plain `auths` entry. */
  dockerPath: string;
  /** A job's step environment, for the Node.js start and bundle load runs. */
  stepEnv: NodeJS.ProcessEnv;
}

/** Times `node -e 0`, then each bundle loaded in a way that stops at once. */
async function timeNodeStart(bench: Bench, record: boolean): Promise<void> {
  const node = await timeCommand(process.execPath, ['-e', '0'], bench.stepEnv);
  const loads: Array<[string, number]> = [];
  for (const [label, script, env, exitCode] of await loadTargets(bench.services)) {
    const load = await timeCommand(process.execPath, [script], { ...bench.stepEnv, ...env }, '', {
      exitCode,
    });
    loads.push([label, load.ms]);
  }
  if (!record) return;
  bench.samples.add('node', node.ms);
  for (const [label, ms] of loads) {
    bench.samples.add(label, ms);
    bench.samples.add(`${label}-only`, ms - node.ms);
  }
}

/** Times main, `gets` credential lookups through the wrapper, and post, with a warm cache. */
async function timeWarmLogin(bench: Bench, record: boolean): Promise<void> {
  const { services } = bench;
  const job = await createJob(services, bench.cleanup, { toolCache: bench.warmCache });
  try {
    const main = await timeAction(job, 'main', loginInputs(services));
    const { wrapper } = await findHelperSetup(main.result, services.registry.address);
    const gets: number[] = [];
    for (let call = 0; call < bench.options.gets; call++) {
      const get = await timeCommand(wrapper, ['get'], job.env, services.registry.address, {
        secretOutput: true,
      });
      checkCredential(get.result, services.username);
      gets.push(get.ms);
    }
    const post = await timeAction(job, 'post');
    if (!record) return;
    bench.samples.add('warm', main.ms + post.ms);
    bench.samples.add('warm-main', main.ms);
    bench.samples.add('warm-post', post.ms);
    for (const ms of gets) bench.samples.add('get', ms);
    addPhases(bench.warmPhases, main.ms, main.result.stdout, services);
  } finally {
    await disposeJob(job);
  }
}

/** Times main and post in a job whose tool cache starts empty, so main downloads the helper. */
async function timeColdLogin(bench: Bench, record: boolean): Promise<void> {
  const { services } = bench;
  const job = await createJob(services, bench.cleanup);
  try {
    const main = await timeAction(job, 'main', loginInputs(services));
    const post = await timeAction(job, 'post');
    if (!record) return;
    bench.samples.add('cold', main.ms + post.ms);
    bench.samples.add('cold-main', main.ms);
    bench.samples.add('cold-post', post.ms);
    addPhases(bench.coldPhases, main.ms, main.result.stdout, services);
  } finally {
    await disposeJob(job);
  }
}

/** Times `docker login --password-stdin` and `docker logout` with a new plain config folder. */
async function timeBareLogin(bench: Bench, record: boolean): Promise<void> {
  const { services } = bench;
  const configDir = join(services.root, `bare-config-${randomBytes(4).toString('hex')}`);
  await mkdir(configDir, { mode: 0o700 });
  const job = await createJob(services, bench.cleanup, {
    env: { DOCKER_CONFIG: configDir },
    path: bench.dockerPath,
  });
  try {
    const { address } = services.registry;
    const loginArgs = ['login', '--username', services.username, '--password-stdin', address];
    const login = await timeStep(job, 'docker', loginArgs, services.password);
    const logout = await timeStep(job, 'docker', ['logout', address]);
    if (!record) return;
    bench.samples.add('bare', login + logout);
    bench.samples.add('bare-login', login);
    bench.samples.add('bare-logout', logout);
  } finally {
    await disposeJob(job);
  }
}

/** Records each `<phase>: N ms` line of main, and the time of main outside every phase. */
function addPhases(phases: Samples, mainMs: number, stdout: string, services: Services): void {
  let inPhases = 0;
  for (const [name, ms] of parsePhases(stdout, services.registry.address)) {
    phases.add(name, ms);
    inPhases += ms;
  }
  phases.add('outside the phases (Node.js start, bundle load, inputs, summary)', mainMs - inPhases);
}

/** Returns [file name, bytes, sha256 prefix] for each file in the action's dist/. */
async function distFiles(actionDir: string): Promise<Array<[string, number, string]>> {
  const folder = join(actionDir, 'dist');
  const files: Array<[string, number, string]> = [];
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)))
    .sort();
  for (const name of names) {
    const content = await readFile(join(folder, name));
    const digest = createHash('sha256').update(content).digest('hex').slice(0, 16);
    files.push([name, content.length, digest]);
  }
  return files;
}

function printMachine(machine: Array<[string, string]>): void {
  console.log('## Machine\n');
  console.log(renderTable(['item', 'value'], machine));
}

function printResults(bench: Bench): void {
  const { rounds, gets } = bench.options;
  console.log(`\n## Results: ${rounds} rounds, ${gets} gets per round, times in ms\n`);
  const labels = new Map(ROWS);
  const rows = summaryRows(bench.samples, [...labels.keys()], labels);
  console.log(renderTable(['measurement', 'n', 'median', 'min', 'max'], rows, [1, 2, 3, 4]));
}

async function printBundle(actionDir: string): Promise<void> {
  const files = await distFiles(actionDir);
  const total = files.reduce((sum, [, bytes]) => sum + bytes, 0);
  console.log('\n## Bundle (dist/ as copied at the start)\n');
  const rows = files.map(([name, bytes, digest]) => [name, String(bytes), digest]);
  rows.push(['total', String(total), '']);
  console.log(renderTable(['file', 'bytes', 'sha256 (first 16)'], rows, [1]));
}

function printTargets(bench: Bench): void {
  const warm = median(bench.samples.get('warm'));
  const bare = median(bench.samples.get('bare'));
  const get = median(bench.samples.get('get'));
  const ratio = warm / bare;
  const verdict = (met: boolean) => (met ? 'met' : 'missed');
  console.log('\n## Targets\n');
  const rows = [
    [
      'warm main + post / bare login + logout (medians)',
      `${ratio.toFixed(2)}x`,
      `within ${MAX_RATIO}x`,
      verdict(ratio <= MAX_RATIO),
    ],
    [
      'credential `get` (median)',
      `${formatMs(get)} ms`,
      `within ${MAX_GET_MS} ms`,
      verdict(get <= MAX_GET_MS),
    ],
  ];
  console.log(renderTable(['ratio', 'value', 'target', 'result'], rows));
}

function printPhases(bench: Bench): void {
  console.log('\n## Phases of main (median ms of its `<phase>: N ms` lines)\n');
  const names = [...new Set([...bench.warmPhases.names(), ...bench.coldPhases.names()])];
  const rows = names.map((name) => [
    name,
    formatMs(median(bench.warmPhases.get(name))),
    formatMs(median(bench.coldPhases.get(name))),
  ]);
  console.log(renderTable(['phase', 'warm cache', 'cold cache'], rows, [1, 2]));
}

async function benchmark(cleanup: CleanupStack): Promise<void> {
  const options = readOptions();
  const machine = await describeMachine();
  printMachine(machine);
  console.log(`\nStarting dockerd, the registry and the mirror on loopback...`);
  const services = await startServices(cleanup);
  const probe = await createJob(services, cleanup);
  const bench: Bench = {
    services,
    cleanup,
    options,
    samples: new Samples(),
    warmPhases: new Samples(),
    coldPhases: new Samples(),
    warmCache: join(services.root, 'warm-tool-cache'),
    dockerPath: await dockerOnlyPath(services),
    stepEnv: probe.env,
  };
  await disposeJob(probe);
  await mkdir(bench.warmCache);

  const variants = [timeNodeStart, timeWarmLogin, timeColdLogin, timeBareLogin];
  // The first, unrecorded round fills the warm tool cache and the file system caches.
  for (let round = 0; round <= options.rounds; round++) {
    const record = round > 0;
    process.stderr.write(record ? `round ${round} of ${options.rounds}\n` : 'warm-up round\n');
    for (const variant of variants) await variant(bench, record);
  }

  printResults(bench);
  await printBundle(services.actionDir);
  printTargets(bench);
  printPhases(bench);
  console.log(`\nLoad average at the end (1, 5, 15 min): ${loadAverage()}`);
}

await withCleanup(benchmark);
// Stopping a daemon leaves its grace-period timer running for up to 20 s, so exit now.
process.exit();

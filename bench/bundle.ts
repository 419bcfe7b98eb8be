/**
 * Measurements of the bundles' load time: stub bundles of single dependencies built the way
 * dist/ is built, CPU profiles of loading the action's bundles, the Node.js built-in modules that
 * they load, and the time of openpgp's import and key generation.
 */
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execute } from '../__tests__/support/exec.js';
import { REPO_ROOT } from '../__tests__/support/runner.js';
import { timeCommand, type LoadTarget } from './harness.js';
import { Samples } from './stats.js';

/** Entry points of the stub bundles, by name. */
const STUBS: Record<string, string> = {
  'stub: no dependency': "process.stdout.write('loaded\\n');\n",
  'stub: @actions/core': "import * as core from '@actions/core';\ncore.info('loaded');\n",
  'stub: @actions/core + @actions/tool-cache': [
    "import * as core from '@actions/core';",
    "import * as tc from '@actions/tool-cache';",
    "core.info(typeof tc.find === 'function' ? 'loaded' : 'missing');",
    '',
  ].join('\n'),
  'stub: undici alone (imported by @actions/http-client)': [
    "import { ProxyAgent } from 'undici';",
    "process.stdout.write(typeof ProxyAgent === 'function' ? 'loaded\\n' : 'missing\\n');",
    '',
  ].join('\n'),
};

/**
 * Builds each stub with the flags of `npm run build` into `folder`, and returns the bundle of
 * each by name. The stubs resolve packages through a link to this checkout's node_modules.
 */
export async function buildStubs(folder: string): Promise<Map<string, string>> {
  await mkdir(folder, { recursive: true });
  await symlink(join(REPO_ROOT, 'node_modules'), join(folder, 'node_modules'));
  await writeFile(join(folder, 'package.json'), '{ "type": "module" }\n');
  const ncc = join(REPO_ROOT, 'node_modules', '.bin', 'ncc');
  const bundles = new Map<string, string>();
  let index = 0;
  for (const [name, source] of Object.entries(STUBS)) {
    index += 1;
    const entry = join(folder, `stub-${index}.js`);
    const out = join(folder, `out-${index}`);
    await writeFile(entry, source);
    const args = ['build', entry, '--out', out, '--minify', '--no-source-map-register', '-q'];
    const result = await execute(ncc, args, { env: process.env, timeoutMs: 300_000 });
    if (result.exitCode !== 0) throw new Error(`ncc build of ${name} failed: ${result.stderr}`);
    bundles.set(name, join(out, 'index.js'));
  }
  return bundles;
}

export async function fileBytes(path: string): Promise<number> {
  return (await stat(path)).size;
}

/**
 * Times `node -e 0`, the action's bundles as `targets` load them, and each stub bundle, `runs`
 * times each, interleaved.
 */
export async function timeLoads(
  targets: LoadTarget[],
  stubs: Map<string, string>,
  env: NodeJS.ProcessEnv,
  runs: number,
): Promise<Samples> {
  const samples = new Samples();
  const runsOfEach: LoadTarget[] = [
    ['`node -e 0`', '-e', {}, 0],
    ...targets,
    ...[...stubs].map(([name, bundle]): LoadTarget => [name, bundle, {}, 0]),
  ];
  for (let run = 0; run <= runs; run++) {
    for (const [name, script, extraEnv, exitCode] of runsOfEach) {
      const args = script === '-e' ? ['-e', '0'] : [script];
      const { ms } = await timeCommand(process.execPath, args, { ...env, ...extraEnv }, '', {
        exitCode,
      });
      // The first run of each only warms the file system cache.
      if (run > 0) samples.add(name, ms);
    }
  }
  return samples;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/**
 * Loads the bundle of `target` with its environment under `node --cpu-prof` (100 µs sampling)
 * and returns the profiled time and the frames with the most self time, as [frame, ms] pairs.
 * Sampling slows Node.js down, so the total is longer than an unprofiled load.
 */
export async function profileLoad(
  target: LoadTarget,
  folder: string,
  env: NodeJS.ProcessEnv,
): Promise<{ totalMs: number; frames: Array<[string, number]> }> {
  const [, script, extraEnv, exitCode] = target;
  await mkdir(folder, { recursive: true });
  const args = ['--cpu-prof', '--cpu-prof-dir', folder, '--cpu-prof-interval', '100', script];
  await timeCommand(process.execPath, args, { ...env, ...extraEnv }, '', { exitCode });
  const file = (await readdir(folder)).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`node --cpu-prof wrote no profile into ${folder}.`);
  const profile = JSON.parse(await readFile(join(folder, file), 'utf8')) as CpuProfile;

  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    const where = frame.url ? ` ${basename(frame.url)}` : '';
    const key = `${frame.functionName || '(module top level)'}${where}`;
    selfMs.set(key, (selfMs.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000);
  });
  const frames = [...selfMs].sort((a, b) => b[1] - a[1]);
  return { totalMs: (profile.endTime - profile.startTime) / 1000, frames };
}

/**
 * Returns the Node.js built-in modules that loading the bundle of `target` adds to those of
 * `node -e 0`, from `process.moduleLoadList` at exit.
 */
export async function builtinsLoaded(
  target: LoadTarget,
  folder: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const [, script, extraEnv, exitCode] = target;
  await mkdir(folder, { recursive: true });
  const hook = join(folder, 'module-list.cjs');
  await writeFile(
    hook,
    [
      "const { writeFileSync } = require('node:fs');",
      "process.on('exit', () => writeFileSync(process.env.BENCH_MODULE_LIST, " +
        "process.moduleLoadList.join('\\n')));",
      '',
    ].join('\n'),
  );
  const listOf = async (args: string[], name: string, expectedExit: number) => {
    const out = join(folder, name);
    const hookEnv = { ...env, ...extraEnv, BENCH_MODULE_LIST: out };
    await timeCommand(process.execPath, ['--require', hook, ...args], hookEnv, '', {
      exitCode: expectedExit,
    });
    return new Set((await readFile(out, 'utf8')).split('\n'));
  };
  const bare = await listOf(['-e', '0'], 'bare.txt', 0);
  const bundle = await listOf([script], 'bundle.txt', exitCode);
  return [...bundle]
    .filter((entry) => !bare.has(entry) && entry.startsWith('NativeModule '))
    .map((entry) => entry.slice('NativeModule '.length));
}

/** Returns the public modules of a list of built-in modules, without `internal/` ones. */
export function publicModules(modules: string[]): string[] {
  return modules.filter((name) => !name.startsWith('internal/'));
}

/**
 * Times, in a new Node.js process, what main does in-process for the key: importing openpgp
 * (from node_modules, the same version as bundled), generating the key with the options of
 * src/keygen.ts twice, and reading it back. Returns [step, ms] pairs.
 */
export async function timeKeyGeneration(env: NodeJS.ProcessEnv): Promise<Array<[string, number]>> {
  const packageDir = join(REPO_ROOT, 'node_modules', 'openpgp');
  const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    exports: Record<string, { import: string }>;
  };
  const moduleUrl = pathToFileURL(join(packageDir, manifest.exports['.'].import)).href;
  const script = [
    'const t0 = performance.now();',
    `const openpgp = await import(${JSON.stringify(moduleUrl)});`,
    'const t1 = performance.now();',
    'const options = {',
    "  type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'bench' }],",
    "  passphrase: 'a'.repeat(64), keyExpirationTime: 691200, format: 'armored',",
    '  config: { v6Keys: false, aeadProtect: false, s2kIterationCountByte: 0 },',
    '};',
    'const first = await openpgp.generateKey(options);',
    'const t2 = performance.now();',
    'await openpgp.generateKey(options);',
    'const t3 = performance.now();',
    'await openpgp.readPrivateKey({ armoredKey: first.privateKey });',
    'const t4 = performance.now();',
    'console.log(JSON.stringify([t1 - t0, t2 - t1, t3 - t2, t4 - t3]));',
  ].join('\n');
  const args = ['--input-type=module', '-e', script];
  const { result } = await timeCommand(process.execPath, args, env);
  const [load, first, second, read] = JSON.parse(result.stdout) as number[];
  return [
    ["import('openpgp') (unbundled ESM build)", load],
    ['generateKey, first call', first],
    ['generateKey, second call', second],
    ['readPrivateKey', read],
  ];
}

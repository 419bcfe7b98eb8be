/**
 * Runs the bundled action once as a workflow would, against a throwaway Docker daemon, a
 * distribution registry with one htpasswd user and a local release mirror, all on loopback and
 * under one temporary folder, and prints each step's log. Needs root, for dockerd.
 *
 *     npm run demo
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, type StepResult } from '../__tests__/support/runner.js';
import {
  canRunDockerd,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
} from '../__tests__/support/services.js';

const TAG = 'v0.8.0-local';

function show(title: string, result: StepResult): void {
  console.log(`\n=== ${title} (exit code ${result.exitCode}) ===`);
  const lines = `${result.stdout}${result.stderr}`.split('\n');
  // The runner consumes ::add-mask:: commands, which carry the secrets to mask, so a job log
  // never shows them. Debug lines show only with step debug logging on.
  const masks = lines.filter((line) => line.startsWith('::add-mask::')).length;
  const shown = lines.filter(
    (line) => !line.startsWith('::debug::') && !line.startsWith('::add-mask::'),
  );
  if (masks > 0) console.log(`(${masks} ::add-mask:: commands for the runner not shown)`);
  console.log(shown.join('\n').trimEnd());
}

async function main(): Promise<void> {
  if (!canRunDockerd()) throw new Error('The demo starts dockerd, which needs root.');
  const root = await mkdtemp(join(tmpdir(), 'dpl-demo-'));
  const password = `demo-${randomBytes(12).toString('hex')}`;
  const [dockerd, registry, mirror] = await Promise.all([
    startDockerd(join(root, 'docker')),
    startRegistry(join(root, 'registry'), { demo: password }),
    startMirror({ tag: TAG }),
  ]);
  const job = await Job.create({ root: join(root, 'job'), env: { DOCKER_HOST: dockerd.host } });
  try {
    const image = `${registry.address}/demo/app:1`;
    await makeImage(dockerd.host, image);
    const inputs = {
      registry: registry.address,
      username: 'demo',
      password,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      'retry-delay': '100ms',
    };
    const main = await job.runAction('main', inputs);
    show('main: uses: org/docker-pass-login@v1', main);
    const config = await readFile(join(main.outputs['config-dir'], 'config.json'), 'utf8');
    console.log(`\n=== $DOCKER_CONFIG/config.json ===\n${config.trimEnd()}`);
    show(`run: docker push ${image}`, await job.run('docker', ['push', image]));
    show('post: uses: org/docker-pass-login@v1', await job.runAction('post', inputs));
    show(`run: docker push ${image} (after post)`, await job.run('docker', ['push', image]));
  } finally {
    await job.dispose();
    await mirror.stop();
    await registry.stop();
    await dockerd.stop();
    await rm(root, { recursive: true, force: true });
  }
}

await main();

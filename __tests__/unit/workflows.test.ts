/**
 * Checks the repository's own workflows: each parses as YAML, each job has `runs-on` and steps,
 * and every use of this action (`uses: ./`) runs after a checkout and passes only inputs that
 * action.yml declares. The runner would otherwise ignore a misspelt input with a mere warning.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { readActionDefinition, REPO_ROOT } from '../support/runner.js';

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface Workflow {
  on?: unknown;
  jobs?: Record<string, { 'runs-on'?: unknown; steps?: Step[] }>;
}

const WORKFLOW_DIR = join(REPO_ROOT, '.github', 'workflows');
const files = readdirSync(WORKFLOW_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();

function readWorkflow(name: string): Workflow {
  return parse(readFileSync(join(WORKFLOW_DIR, name), 'utf8')) as Workflow;
}

/** Returns [job id, step index, step] for every step of the workflow. */
function stepsOf(workflow: Workflow): Array<[string, number, Step]> {
  return Object.entries(workflow.jobs ?? {}).flatMap(([jobId, job]) =>
    (job.steps ?? []).map((step, index): [string, number, Step] => [jobId, index, step]),
  );
}

describe('repository workflows', () => {
  test('workflows exist', () => {
    expect(files).toEqual(expect.arrayContaining(['check-dist.yml', 'ci.yml', 'e2e.yml']));
  });

  test('some workflow uses this action', () => {
    const uses = files.flatMap((name) =>
      stepsOf(readWorkflow(name)).filter(([, , step]) => step.uses === './'),
    );
    expect(uses.length).toBeGreaterThan(0);
  });

  test.each(files)('%s has triggers and jobs', (name) => {
    const workflow = readWorkflow(name);
    expect(workflow.on, 'on').toBeDefined();
    expect(Object.keys(workflow.jobs ?? {}).length, 'number of jobs').toBeGreaterThan(0);
  });

  test.each(files)('%s jobs have runs-on and steps', (name) => {
    for (const [jobId, job] of Object.entries(readWorkflow(name).jobs ?? {})) {
      expect(job['runs-on'], `jobs.${jobId}.runs-on`).toBeDefined();
      expect(Array.isArray(job.steps), `jobs.${jobId}.steps is a list`).toBe(true);
      expect(job.steps?.length, `jobs.${jobId}.steps`).toBeGreaterThan(0);
    }
  });

  test.each(files)('%s steps have uses or run', (name) => {
    for (const [jobId, index, step] of stepsOf(readWorkflow(name))) {
      const kinds = [step.uses, step.run].filter((value) => value !== undefined);
      expect(kinds.length, `jobs.${jobId}.steps[${index}] has one of uses and run`).toBe(1);
    }
  });

  test.each(files)('%s passes only declared inputs', async (name) => {
    const { inputs } = await readActionDefinition(REPO_ROOT);
    for (const [jobId, index, step] of stepsOf(readWorkflow(name))) {
      if (step.uses !== './') continue;
      for (const key of Object.keys(step.with ?? {})) {
        expect(inputs.has(key), `jobs.${jobId}.steps[${index}].with.${key} in action.yml`).toBe(
          true,
        );
      }
    }
  });

  test.each(files)('%s checks out before uses ./', (name) => {
    for (const [jobId, job] of Object.entries(readWorkflow(name).jobs ?? {})) {
      const steps = job.steps ?? [];
      const local = steps.findIndex((step) => step.uses === './');
      if (local < 0) continue;
      const checkout = steps.findIndex((step) => step.uses?.startsWith('actions/checkout@'));
      expect(checkout, `jobs.${jobId} runs actions/checkout`).toBeGreaterThanOrEqual(0);
      expect(checkout, `jobs.${jobId} checks out before uses: ./`).toBeLessThan(local);
    }
  });

  test.each(files)('%s pins remote actions to a version', (name) => {
    for (const [jobId, index, step] of stepsOf(readWorkflow(name))) {
      if (step.uses === undefined || step.uses.startsWith('./')) continue;
      expect(step.uses, `jobs.${jobId}.steps[${index}].uses`).toMatch(/^[\w.-]+\/[\w./-]+@\S+$/);
    }
  });
});

/**
 * Tests of the timeout of runTool with real processes: a tool that hangs, and a tool that exits
 * at once but leaves a process of another session that keeps its stdout open.
 */
import { describe, expect, test } from 'vitest';
import { runTool, ToolError } from '../../src/exec.js';

describe('runTool timeout', () => {
  test('hung tool is killed', async () => {
    const started = Date.now();
    const error = await runTool('sleep', ['30'], { purpose: 'Sleeping', timeoutMs: 300 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).timedOut).toBe(true);
    expect((error as Error).message).toBe('Sleeping failed: sleep timed out after 0.3 s');
    expect(Date.now() - started, 'milliseconds until the call settled').toBeLessThan(2_000);
  });

  test('detached child does not hold the call', async () => {
    // `setsid` puts sleep into a session of its own, out of reach of the process-group kill,
    // and sleep inherits sh's stdout, as a daemon that does not close its stdio would.
    const started = Date.now();
    const result = await runTool('sh', ['-c', 'setsid sleep 4 & echo started'], {
      purpose: 'Starting a daemon',
      timeoutMs: 500,
    }).catch((caught: unknown) => caught);
    expect(Date.now() - started, 'milliseconds until the call settled').toBeLessThan(2_000);
    expect(result).toEqual({ exitCode: 0, stdout: 'started\n', stderr: '' });
  });
});

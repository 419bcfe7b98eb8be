import * as core from './actions-core.js';

/** Runs one phase of the action in its own log group and logs how long it took. */
export async function phase<T>(title: string, body: () => Promise<T>): Promise<T> {
  return core.group(title, async () => {
    const started = performance.now();
    try {
      return await body();
    } finally {
      core.info(`${title}: ${Math.round(performance.now() - started)} ms`);
    }
  });
}

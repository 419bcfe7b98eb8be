import { inputVariable, readActionDefinition, REPO_ROOT } from '../support/runner.js';

const definition = await readActionDefinition(REPO_ROOT);

/**
 * Sets the `INPUT_*` variables of every input of action.yml, with its default unless `values`
 * gives one, as the runner does for a step. Returns a function that removes them again.
 */
export function setActionInputs(values: Record<string, string>): () => void {
  const names = new Set([...definition.inputs.keys(), ...Object.keys(values)]);
  for (const name of names) {
    process.env[inputVariable(name)] = values[name] ?? definition.inputs.get(name) ?? '';
  }
  return () => {
    for (const name of names) delete process.env[inputVariable(name)];
  };
}

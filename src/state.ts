import * as core from './actions-core.js';

/**
 * Values that the post step needs to clean up. Post runs in a fresh process and receives only these values,
 * so main saves each one before it creates the thing it names. No value is a secret. Post
 * derives every path inside workDir from workDir itself.
 */
export interface SavedState {
  /** The folder under RUNNER_TEMP that contains everything this use of the action creates. */
  workDir?: string;
  fingerprint?: string;
  /** Server keys of the registries, as stored by `docker login`. */
  servers?: string[];
  logout?: boolean;
  /** Set when main finished, whether it logged in or failed with an error it reported. */
  completed?: boolean;
  /** DOCKER_CONFIG before main exported its own; empty when it was not set. */
  previousDockerConfig?: string;
  /**
   * The `config-dir` input, saved once its config.json is backed up: post then restores that
   * file, or deletes it where there was none.
   */
  externalConfigDir?: string;
  /** Permission bits of the config.json of externalConfigDir before main edited it. */
  externalConfigMode?: number;
  /** Set when main created externalConfigDir itself, so that post removes it if it is empty. */
  externalConfigCreated?: boolean;
  /** Links that main created in externalConfigDir, to the user's plugin and context folders. */
  externalLinks?: string[];
}

const KEY = 'cleanup';

export function saveState(update: Partial<SavedState>): void {
  current = { ...current, ...update };
  core.saveState(KEY, JSON.stringify(current));
}

export function loadState(): SavedState {
  const raw = core.getState(KEY);
  if (!raw) return {};
  try {
    return JSON.parse(raw) as SavedState;
  } catch {
    core.warning(
      'The saved state of the main step is not valid JSON; nothing to clean up from it.',
    );
    return {};
  }
}

let current: SavedState = {};

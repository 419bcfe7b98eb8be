import * as core from '@actions/core';
import type { ConfigBackup } from './docker-config.js';

/**
 * What the post step needs to clean up. Post runs in a fresh process and sees only these values,
 * so main saves each one before it creates the thing it names. No value is a secret.
 */
export interface SavedState {
  /** The folder under RUNNER_TEMP that contains everything this use of the action creates. */
  workDir?: string;
  gnupgHome?: string;
  storeDir?: string;
  configDir?: string;
  binDir?: string;
  /** Suffix of the `docker-credential-<name>` wrapper that config.json names. */
  helperName?: string;
  fingerprint?: string;
  /**
   * Set when the `config-dir` input points at a folder outside workDir: post restores its
   * config.json from `configBackup`, or deletes it when there was none before.
   */
  externalConfig?: boolean;
  configBackup?: ConfigBackup;
  /** Server keys of the registries, as stored by `docker login`. */
  servers?: string[];
  logout?: boolean;
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
      `The saved state of the main step is not valid JSON; nothing to clean up from it.`,
    );
    return {};
  }
}

let current: SavedState = {};

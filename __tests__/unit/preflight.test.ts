import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BREW_INSTALL, checkTools, findOnPath } from '../../src/preflight.js';

describe('checkTools', () => {
  const savedPath = process.env.PATH;
  beforeEach(() => {
    process.env.PATH = mkdtempSync(join(tmpdir(), 'empty-path-'));
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  it('rejects Windows', async () => {
    await expect(checkTools('win32')).rejects.toThrow(/Linux and macOS runners, not on win32/);
  });

  it('names each missing tool with apt hints', async () => {
    const error = checkTools('linux');
    await expect(error).rejects.toThrow(/not found: gpg, gpg-agent, gpgconf, getopt\./);
    await expect(error).rejects.toThrow(/sudo apt-get install gnupg\)/);
    await expect(error).rejects.toThrow(/sudo apt-get install util-linux\)/);
  });

  it('gives the brew line on macOS', async () => {
    await expect(checkTools('darwin')).rejects.toThrow(`Homebrew: ${BREW_INSTALL}.`);
  });
});

describe('findOnPath', () => {
  it('finds sh on the system PATH', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
  });

  it('returns undefined for a missing tool', () => {
    expect(findOnPath('no-such-tool-here', '/bin:/usr/bin')).toBeUndefined();
  });
});

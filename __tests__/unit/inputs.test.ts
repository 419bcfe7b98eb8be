import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  parseDuration,
  readInputs,
  validateHelperVersion,
  validateMirror,
  validateUsername,
} from '../../src/inputs.js';
import { DOCKER_HUB_SERVER } from '../../src/registry.js';
import { setActionInputs } from './action-inputs.js';

let clearInputs = (): void => undefined;

function setInputs(values: Record<string, string>): void {
  clearInputs = setActionInputs({ username: 'octocat', password: 'hunter2-token', ...values });
}

describe('readInputs', () => {
  const written: string[] = [];
  beforeEach(() => {
    written.length = 0;
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    clearInputs();
  });

  it('reads the defaults', () => {
    setInputs({});
    const inputs = readInputs();
    expect(inputs.logins).toHaveLength(1);
    expect(inputs.logins[0].registry.server).toBe(DOCKER_HUB_SERVER);
    expect(inputs.logins[0].username).toBe('octocat');
    expect(inputs.logout).toBe(true);
    expect(inputs.helperVersion).toBe('v0.9.8');
  });

  it('keeps the password exactly, white space included', () => {
    setInputs({ password: '  pass word \n' });
    expect(readInputs().logins[0].password).toBe('  pass word \n');
  });

  it('masks the password and its encoded forms before anything else', () => {
    setInputs({ password: 'p@ss"word' });
    readInputs();
    const output = written.join('');
    expect(output).toContain('::add-mask::p@ss"word');
    expect(output).toContain(`::add-mask::${Buffer.from('p@ss"word').toString('base64')}`);
    const basic = Buffer.from('octocat:p@ss"word').toString('base64');
    expect(output).toContain(`::add-mask::${basic}`);
    expect(output).toContain('::add-mask::p@ss\\"word');
  });

  it.each([
    ['username', '', /Input 'username' is empty\. Secrets are empty .* forks/],
    ['username', '   ', /Input 'username' contains only white space/],
    ['password', '', /Input 'password' is empty\. Secrets are empty .* forks/],
    ['password', ' \n ', /Input 'password' contains only white space/],
    ['logout', 'yes', /Input 'logout' is 'yes'; use 'true' or 'false'/],
    ['registry', 'ghcr.io/org', /Invalid registry 'ghcr\.io\/org'/],
    ['password', 'x'.repeat(63 * 1024), /Input 'password' is too long: 64514 bytes as a JSON/],
    ['password', '"'.repeat(32 * 1024), /Input 'password' is too long: 65538 bytes/],
    ['retries', '-1', /Input 'retries' is '-1'; use a whole number/],
    ['retries', '11', /Input 'retries' is '11'/],
    ['retry-delay', 'soon', /Input 'retry-delay' is 'soon'; use a duration/],
    ['retry-delay', '1h', /Input 'retry-delay' is '1h'/],
  ])('rejects %s %j', (name, value, message) => {
    setInputs({ [name]: value });
    expect(() => readInputs()).toThrow(message);
  });

  it('never puts the password in an error', () => {
    setInputs({ password: 'secret-value', registry: 'bad registry' });
    expect(() => readInputs()).toThrow(/^(?!.*secret-value)/s);
  });
});

describe('parseDuration', () => {
  it.each([
    ['5s', 5000],
    ['5', 5000],
    ['500ms', 500],
    ['0.1s', 100],
    ['1m', 60_000],
    ['0', 0],
  ])('reads %s as %i ms', (value, ms) => {
    expect(parseDuration(value, 'retry-delay')).toBe(ms);
  });
});

describe('validateUsername', () => {
  it.each(['robot$project+ci', 'org+robot', '_json_key', 'AWS', '<token>', 'me@example.com'])(
    'accepts %j',
    (name) => {
      expect(validateUsername(name, "Input 'username'")).toBe(name);
    },
  );

  it.each([
    ['org/robot', /contains '\/'/],
    ['user:name', /contains ':', which separates/],
    ['line\nbreak', /control character/],
    ['..', /folder name/],
  ])('rejects %j', (name, message) => {
    expect(() => validateUsername(name, "Input 'username'")).toThrow(message);
  });
});

describe('validateHelperVersion', () => {
  it.each(['v0.7.0', 'v0.8.2', 'v0.9.8', 'v1.0.0', 'v0.9.9-rc.1'])('accepts %s', (tag) => {
    expect(validateHelperVersion(tag)).toBe(tag);
  });

  it.each([
    ['0.9.8', /not a release tag/],
    ['latest', /not a release tag/],
    ['v0.9', /not a release tag/],
    ['v0.6.4', /before v0\.7\.0/],
    ['v0.9.0', /withdrawn/],
    ['v0.9.1', /withdrawn/],
  ])('rejects %s', (tag, message) => {
    expect(() => validateHelperVersion(tag)).toThrow(message);
  });
});

describe('validateMirror', () => {
  it('drops a trailing slash', () => {
    expect(validateMirror('https://mirror.example/releases/', 'helper-mirror')).toBe(
      'https://mirror.example/releases',
    );
  });

  it.each([
    ['not a url', /not a URL/],
    ['ftp://mirror.example', /http or https/],
    ['https://user:pw@mirror.example', /user name or password/],
    ['https://mirror.example/a?b=1', /query or a fragment/],
    ['https://mirror.example/a#top', /query or a fragment/],
    ['https://mirror.example/\n::warning::x', /control character/],
  ])('rejects %j', (value, message) => {
    expect(() => validateMirror(value, 'helper-mirror')).toThrow(message);
  });
});

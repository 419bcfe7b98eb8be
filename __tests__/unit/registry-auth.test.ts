import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { readInputs } from '../../src/inputs.js';
import { parseEntryList } from '../../src/registry-auth.js';
import { setActionInputs } from './action-inputs.js';

const JSON_KEY =
  '{\n  "type": "service_account",\n  "private_key": "-----BEGIN-----\\nMII\\n"\n}\n';

// Each document is parsed by the action's parser and by the `yaml` package; both must agree.
const DOCUMENTS: Record<string, string> = {
  plain: `
- registry: ghcr.io
  username: octocat
  password: ghp_abc123
- registry: 127.0.0.1:5000
  username: robot$project+ci
  password: p@ss:word
`,
  'comments and blank lines': `
# registries of this job
- registry: quay.io   # the mirror

  username: org+robot
  password: token # trailing comment
`,
  'item on its own line': `
-
  registry: docker.io
  username: me@example.com
  password: x
`,
  'double-quoted escapes': `
- registry: "ghcr.io"
  username: "a\\"b"
  password: "tab\\there\\nline \\u00e9 \\\\ \\x41"
`,
  'single-quoted': `
- username: 'it''s'
  password: '  spaced # not a comment  '
`,
  'literal block': `
- registry: europe-docker.pkg.dev
  username: _json_key
  password: |
    ${JSON_KEY.trimEnd().split('\n').join('\n    ')}
`,
  'literal block strip and keep': `
- username: a
  password: |-
    one
    two

- username: b
  password: |+
    three

`,
  'folded block': `
- username: a
  password: >
    folded
    line

    paragraph
`,
  'indented list': `
  - registry: ghcr.io
    username: a
    password: b
  - registry: quay.io
    username: c
    password: d
`,
  'non-ASCII and symbols': `
- username: jürgen
  password: $(echo) \`tick\` "quoted" ünïcödé
`,
  'CRLF line ends': '- username: a\r\n  password: b\r\n',
};

describe('parseEntryList', () => {
  it.each(Object.entries(DOCUMENTS))('reads %s as the yaml package does', (_name, text) => {
    const expected = (parse(text) as Record<string, unknown>[]).map((entry) =>
      Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, String(value)])),
    );
    expect(parseEntryList(text, 'registry-auth')).toEqual(expected);
  });

  it('reads a multi-line JSON key exactly', () => {
    const [entry] = parseEntryList(DOCUMENTS['literal block'], 'registry-auth');
    expect(entry.password).toBe(JSON_KEY);
  });

  it('reads a JSON list', () => {
    const text = '[{"registry": "ghcr.io", "username": "a", "password": "b\\nc"}]';
    expect(parseEntryList(text, 'registry-auth')).toEqual([
      { registry: 'ghcr.io', username: 'a', password: 'b\nc' },
    ]);
  });

  it.each([
    ['registry: ghcr.io\n', /line 1: expected a list item/],
    ['- username: a\n    password: b\n', /line 2: the indentation/],
    ['- username: a\n  username: b\n', /line 2: 'username' appears twice/],
    ['- username "a"\n', /line 1: expected "key: value"/],
    ['- password: "secret\n', /line 1: a double-quoted value is not closed/],
    ["- password: 'secret' tail\n", /line 1: unexpected text/],
    ['[{"a": 1}', /not a valid JSON list/],
    ['{"a": 1}', /line 1: expected a list item/],
  ])('rejects %j', (text, message) => {
    expect(() => parseEntryList(text, 'registry-auth')).toThrow(message);
  });

  it('never puts a line of the input into an error', () => {
    expect(() => parseEntryList('- password: "hunter2-secret\n', 'registry-auth')).toThrow(
      /^(?!.*hunter2)/s,
    );
  });
});

describe('readInputs with registry-auth', () => {
  const written: string[] = [];
  let clearInputs = (): void => undefined;

  function setInputs(values: Record<string, string>): void {
    clearInputs = setActionInputs(values);
  }

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

  it('logs in to every entry and masks every password', () => {
    setInputs({ 'registry-auth': DOCUMENTS.plain });
    const inputs = readInputs();
    expect(inputs.logins.map((login) => login.registry.server)).toEqual([
      'ghcr.io',
      '127.0.0.1:5000',
    ]);
    expect(written.join('')).toContain('::add-mask::ghp_abc123');
    expect(written.join('')).toContain('::add-mask::p@ss:word');
  });

  it('warns about a repeated registry', () => {
    setInputs({ 'registry-auth': '- username: a\n  password: b\n- username: c\n  password: d\n' });
    readInputs();
    expect(written.join('')).toContain('::warning::registry-auth entries 1 and 2 both name');
  });

  it('defaults an entry without registry to Docker Hub', () => {
    setInputs({ 'registry-auth': '- username: a\n  password: b\n' });
    expect(readInputs().logins[0].registry.server).toBe('https://index.docker.io/v1/');
  });

  it.each([
    [{ username: 'octocat' }, /cannot be combined/],
    [{ password: 'x' }, /cannot be combined/],
    [{ registry: 'ghcr.io' }, /cannot be combined/],
  ])('rejects it together with %j', (single, message) => {
    setInputs({ 'registry-auth': DOCUMENTS.plain, ...single });
    expect(() => readInputs()).toThrow(message);
  });

  it.each([
    [
      '- registry: ghcr.io\n  username: a\n  pasword: b\n',
      /entry 1, has the unknown key 'pasword'/,
    ],
    ['- username: a\n  password: b\n- username: c\n', /entry 2, 'password' is empty/],
    ['- username: a/b\n  password: b\n', /entry 1, 'username' contains '\/'/],
    ['- registry: ghcr.io/org\n  username: a\n  password: b\n', /Invalid registry 'ghcr.io\/org'/],
    ['# nothing\n', /contains no entries/],
  ])('rejects entry list %j', (text, message) => {
    setInputs({ 'registry-auth': text });
    expect(() => readInputs()).toThrow(message);
  });

  it('masks a password before a later entry fails', () => {
    setInputs({
      'registry-auth': '- username: a\n  password: early-secret\n- username: b/c\n  password: x\n',
    });
    expect(() => readInputs()).toThrow();
    expect(written.join('')).toContain('::add-mask::early-secret');
  });
});

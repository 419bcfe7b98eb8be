/**
 * Parser for the `registry-auth` input: a YAML block sequence of flat mappings, such as
 *
 *     - registry: ghcr.io
 *       username: octocat
 *       password: ${{ secrets.GHCR_TOKEN }}
 *
 * or the same list written as JSON. It reads the subset of YAML 1.2 that such a list uses: plain,
 * single-quoted and double-quoted scalars, `#` comments, and literal (`|`) or folded (`>`) block
 * scalars with chomping indicators, for multi-line secrets such as a JSON key file.
 *
 * The runtime dependencies of this action are fixed, so there is no YAML library. Error messages
 * give line numbers, never line contents, because a line may contain a password.
 */

export type Entry = Record<string, string>;

export function parseEntryList(text: string, inputName: string): Entry[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) return parseJsonList(trimmed, inputName);
  return new BlockListParser(text, inputName).parse();
}

function parseJsonList(text: string, inputName: string): Entry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`Input '${inputName}' starts with '[' but is not a valid JSON list.`);
  }
  if (!Array.isArray(value)) throw new Error(`Input '${inputName}' is not a list.`);
  return value.map((item, index) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw new Error(`Input '${inputName}': entry ${index + 1} is not a mapping.`);
    }
    const entry: Entry = {};
    for (const [key, field] of Object.entries(item as Record<string, unknown>)) {
      if (typeof field !== 'string' && typeof field !== 'number') {
        throw new Error(`Input '${inputName}': entry ${index + 1}, '${key}' is not a string.`);
      }
      entry[key] = String(field);
    }
    return entry;
  });
}

const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
};

class BlockListParser {
  private readonly lines: string[];
  private index = 0;

  constructor(
    text: string,
    private readonly inputName: string,
  ) {
    this.lines = text.replace(/\r\n?/g, '\n').split('\n');
    // The empty string after a final newline is not a line.
    if (this.lines[this.lines.length - 1] === '') this.lines.pop();
  }

  parse(): Entry[] {
    const entries: Entry[] = [];
    let itemIndent = -1;
    let keyIndent = -1;
    while (this.index < this.lines.length) {
      const line = this.lines[this.index];
      if (isBlankOrComment(line)) {
        this.index++;
        continue;
      }
      const indent = line.length - line.trimStart().length;
      const item = /^(\s*)-(?:\s+(.*))?$/.exec(line);
      if (item && (itemIndent === -1 || indent === itemIndent)) {
        itemIndent = indent;
        entries.push({});
        const rest = item[2] ?? '';
        if (rest.trim() === '' || rest.trimStart().startsWith('#')) {
          keyIndent = -1;
          this.index++;
          continue;
        }
        keyIndent = line.length - rest.length;
        this.readField(entries[entries.length - 1], rest, keyIndent);
        continue;
      }
      if (entries.length === 0 || indent <= itemIndent) {
        throw this.error('expected a list item that starts with "- "');
      }
      if (keyIndent === -1) keyIndent = indent;
      if (indent !== keyIndent) throw this.error('the indentation does not match the entry');
      this.readField(entries[entries.length - 1], line.slice(indent), keyIndent);
    }
    return entries;
  }

  /** Reads `key: value` at the current line, and the lines of a block scalar after it. */
  private readField(entry: Entry, text: string, keyIndent: number): void {
    const field = /^([A-Za-z0-9_-]+)\s*:(?:\s+(.*))?$/.exec(text);
    if (!field) throw this.error('expected "key: value"');
    const [, key, rawValue = ''] = field;
    if (key in entry) throw this.error(`'${key}' appears twice in one entry`);
    const value = rawValue.trim();
    this.index++;
    if (/^[|>][+-]?(\s+#.*)?$/.test(value)) {
      entry[key] = this.readBlockScalar(value[0] as '|' | '>', value[1], keyIndent);
    } else if (value.startsWith('"')) {
      entry[key] = this.readDoubleQuoted(value);
    } else if (value.startsWith("'")) {
      entry[key] = this.readSingleQuoted(value);
    } else {
      entry[key] = value.replace(/\s+#.*$/, '').trim();
    }
  }

  private readBlockScalar(style: '|' | '>', chomping: string | undefined, keyIndent: number) {
    const body: string[] = [];
    let blockIndent = -1;
    while (this.index < this.lines.length) {
      const line = this.lines[this.index];
      const indent = line.length - line.trimStart().length;
      if (line.trim() === '') {
        body.push('');
        this.index++;
        continue;
      }
      if (indent <= keyIndent) break;
      if (blockIndent === -1) blockIndent = indent;
      if (indent < blockIndent)
        throw this.error('a block scalar line is indented less than the first');
      body.push(line.slice(blockIndent));
      this.index++;
    }
    let trailing = 0;
    while (trailing < body.length && body[body.length - 1 - trailing] === '') trailing++;
    const content = body.slice(0, body.length - trailing);
    const joined = style === '|' ? content.join('\n') : foldLines(content);
    if (content.length === 0) return '';
    if (chomping === '-') return joined;
    if (chomping === '+') return `${joined}\n${'\n'.repeat(trailing)}`;
    return `${joined}\n`;
  }

  private readDoubleQuoted(value: string): string {
    let result = '';
    for (let position = 1; position < value.length; position++) {
      const char = value[position];
      if (char === '"') {
        this.checkRest(value.slice(position + 1));
        return result;
      }
      if (char !== '\\') {
        result += char;
        continue;
      }
      const next = value[++position];
      if (next in ESCAPES) {
        result += ESCAPES[next];
        continue;
      }
      const width = { x: 2, u: 4, U: 8 }[next];
      const hex = width ? value.slice(position + 1, position + 1 + width) : '';
      if (!width || !new RegExp(`^[0-9A-Fa-f]{${width}}$`).test(hex)) {
        throw this.error('invalid escape in a double-quoted value', -1);
      }
      result += String.fromCodePoint(parseInt(hex, 16));
      position += width;
    }
    throw this.error('a double-quoted value is not closed on its line', -1);
  }

  private readSingleQuoted(value: string): string {
    let result = '';
    for (let position = 1; position < value.length; position++) {
      const char = value[position];
      if (char !== "'") {
        result += char;
      } else if (value[position + 1] === "'") {
        result += "'";
        position++;
      } else {
        this.checkRest(value.slice(position + 1));
        return result;
      }
    }
    throw this.error('a single-quoted value is not closed on its line', -1);
  }

  private checkRest(rest: string): void {
    if (rest.trim() !== '' && !/^\s+#/.test(rest)) {
      throw this.error('unexpected text after a quoted value', -1);
    }
  }

  /** Returns an error that names the line, counted from 1; `offset` -1 names the line just read. */
  private error(problem: string, offset = 0): Error {
    return new Error(
      `Input '${this.inputName}' is not a valid YAML list of registry entries: line ` +
        `${this.index + 1 + offset}: ${problem}.`,
    );
  }
}

function isBlankOrComment(line: string): boolean {
  const trimmed = line.trim();
  return trimmed === '' || trimmed.startsWith('#');
}

/**
 * Folds block lines as YAML `>` does: neighbouring lines join with a space, each empty line
 * becomes a newline, and more-indented lines keep their line breaks.
 */
function foldLines(lines: string[]): string {
  let result = lines[0] ?? '';
  for (let index = 1; index < lines.length; index++) {
    const previous = lines[index - 1];
    const line = lines[index];
    if (line === '') result += '\n';
    else if (previous === '') result += line;
    else if (previous.startsWith(' ') || line.startsWith(' ')) result += `\n${line}`;
    else result += ` ${line}`;
  }
  return result;
}

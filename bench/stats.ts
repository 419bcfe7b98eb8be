/** Summary statistics and Markdown tables for the benchmark output. */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function summarize(values: number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** Formats milliseconds with one decimal, or '-' when there is no value. */
export function formatMs(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(1) : '-';
}

/** Collects samples by name, keeping the order in which names first appear. */
export class Samples {
  private readonly values = new Map<string, number[]>();

  add(name: string, value: number): void {
    const list = this.values.get(name);
    if (list) list.push(value);
    else this.values.set(name, [value]);
  }

  get(name: string): number[] {
    return this.values.get(name) ?? [];
  }

  names(): string[] {
    return [...this.values.keys()];
  }

  summary(name: string): Summary {
    return summarize(this.get(name));
  }
}

/** Returns one table row per name: label, n, median, min and max in ms. */
export function summaryRows(samples: Samples, names: string[], labels?: Map<string, string>) {
  return names.map((name) => {
    const { n, median: middle, min, max } = samples.summary(name);
    return [labels?.get(name) ?? name, String(n), formatMs(middle), formatMs(min), formatMs(max)];
  });
}

/**
 * Renders a Markdown table with padded columns, readable in a terminal and in a Markdown file.
 * Columns listed in `rightAligned` (by index) are aligned right, the others left.
 */
export function renderTable(header: string[], rows: string[][], rightAligned: number[] = []) {
  const widths = header.map((title, column) =>
    Math.max(3, title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const pad = (text: string, column: number) =>
    rightAligned.includes(column) ? text.padStart(widths[column]) : text.padEnd(widths[column]);
  const line = (cells: string[]) => `| ${cells.map((cell, i) => pad(cell, i)).join(' | ')} |`;
  const rule = widths.map((width, column) =>
    rightAligned.includes(column) ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width),
  );
  return [line(header), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

import * as core from './actions-core.js';

export interface SummaryFacts {
  servers: string[];
  helperVersion: string;
  helperSource: string;
  fingerprint: string;
  configDir: string;
  externalConfig: boolean;
  workDir: string;
  logout: boolean;
}

/**
 * Writes a short Markdown table about the login to the job summary. A failure to write it is a
 * warning, not a failed step.
 */
export async function writeSummary(facts: SummaryFacts): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  const cleanup = facts.logout
    ? [
        `log out of ${facts.servers.length === 1 ? 'the registry' : 'each registry'}`,
        'delete the key and stop its gpg-agent',
        `remove ${facts.workDir}`,
        facts.externalConfig ? `restore ${facts.configDir}/config.json` : '',
      ]
        .filter(Boolean)
        .join(', ')
    : 'nothing (logout is false); the runner empties RUNNER_TEMP at the end of the job';
  const rows = [
    ['Registries', facts.servers.map((server) => `\`${server}\``).join(', ')],
    ['docker-credential-pass', `${facts.helperVersion} from ${facts.helperSource}`],
    ['Key fingerprint', `\`${facts.fingerprint}\``],
    ['Docker config folder', `\`${facts.configDir}\``],
    ['Post step will', cleanup],
  ];
  const table = ['| | |', '|---|---|', ...rows.map(([name, value]) => `| ${name} | ${value} |`)];
  try {
    await core.summary.addRaw(`### Docker login through pass\n\n${table.join('\n')}\n`).write();
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`);
  }
}

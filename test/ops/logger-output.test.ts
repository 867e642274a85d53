import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The logger picks its output from what stdout is: readable lines in a terminal, JSON lines in a pipe (containers,
// log collectors, tests). Checked in a child process whose stdout is a pipe, then a real pseudo-terminal (`script`).
const repositoryRoot = resolve(import.meta.dirname, '../..');
const scriptPath = '/usr/bin/script';
const directory = mkdtempSync(join(tmpdir(), 'zvb-logger-'));
const probe = join(directory, 'probe.mjs');
writeFileSync(
  probe,
  `const { createLogger } = await import(${JSON.stringify(pathToFileURL(join(repositoryRoot, 'src/observability/logger.ts')).href)});
createLogger('info', 'probe').info({ answer: 42, token: 'secret-value' }, 'hello from the probe');
`,
);

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolvePromise(output) : reject(new Error(`exit ${code}: ${output}`))));
  });
}

const nodeCommand = [process.execPath, '--import', 'tsx', probe];

describe('log output', () => {
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('writes JSON lines when stdout is not a terminal', async () => {
    const [file, ...args] = nodeCommand;
    const output = await run(file as string, args);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 30,
      name: 'probe',
      answer: 42,
      token: '[redacted]',
      msg: 'hello from the probe',
    });
  });

  it.skipIf(!existsSync(scriptPath))('writes readable, coloured lines when stdout is a terminal', async () => {
    const command = nodeCommand.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
    const output = await run(scriptPath, ['-qec', command, '/dev/null']);
    const lines = output.split(/\r?\n/).filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.trimStart().startsWith('{'), line).toBe(false);
    const plain = output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(plain).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(probe\): hello from the probe/m);
    expect(plain).toMatch(/answer: 42/);
    expect(plain).toMatch(/token: "\[redacted\]"/);
    expect(plain).not.toContain('secret-value');
    expect(output).toContain('\u001b['); // coloured
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Every variable the configuration schema validates (its keys in src/config/config.ts). */
function schemaVariables(): string[] {
  const source = read('src/config/config.ts');
  const schema = source.slice(source.indexOf('const environmentSchema = z.object({'));
  return [...schema.slice(0, schema.indexOf('\n});')).matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map(
    (match) => match[1] ?? '',
  );
}

// A variable the code reads but no document names is a setting nobody can find.
describe('environment variables are documented', () => {
  const variables = [...schemaVariables().filter((name) => name !== 'WORKER_CONCURRENCY'), 'REDIS_SERVER_BIN'];

  it('finds the schema', () => {
    expect(variables).toContain('REDIS_URL');
    expect(variables.length).toBeGreaterThan(40);
  });

  it('.env.example lists every variable with its default', () => {
    const example = read('.env.example');
    const missing = variables.filter((name) => !new RegExp(`^# ${name}=`, 'm').test(example));
    expect(missing).toEqual([]);
  });

  it("the README's configuration table names every variable", () => {
    const readme = read('README.md');
    const missing = variables.filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

import { type Config, loadConfig } from './config.ts';
import { ConfigError } from './config-error.ts';

/** For commands: the configuration, or one readable line naming the variable to fix and exit code 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

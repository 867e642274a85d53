/** A configuration value is missing or invalid; `variable` names the environment variable to fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`Configuration: ${variable} ${problem}`);
  }
}

// The message of the ConfigError a config check throws (the tests compare it whole).
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/index.js';

export function configErrorOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

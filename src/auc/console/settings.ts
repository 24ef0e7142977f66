import { ConfigError } from '../../config/load.js';
import type { ConsoleSettings } from './plugin.js';

/** The console's settings from the configuration (auc.console.*), checked. */
export function consoleSettings(c: { sessionIdleSeconds: number; sessionMaxSeconds: number; secureCookie: string }): ConsoleSettings {
  if (c.secureCookie !== 'auto' && c.secureCookie !== 'on') throw new ConfigError('auc.console.secureCookie must be auto or on');
  if (!(c.sessionIdleSeconds > 0) || !(c.sessionMaxSeconds > 0)) throw new ConfigError('auc.console.sessionIdleSeconds and sessionMaxSeconds must be more than 0');
  return { sessionIdleSeconds: c.sessionIdleSeconds, sessionMaxSeconds: c.sessionMaxSeconds, secureCookie: c.secureCookie };
}

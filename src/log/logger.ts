import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One logger for all roles. Redaction is a second line of defence: code
 * never passes key material to a log call in the first place.
 */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['req.headers.authorization', 'key', '*.key', 'sipPassword', '*.sipPassword', 'password', '*.password', 'secret', '*.secret', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    destination ?? process.stderr,
  );
}

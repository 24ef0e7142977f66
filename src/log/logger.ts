import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };

/**
 * One logger for all roles: JSON, one event per line, with an ISO 8601
 * `time` (UTC) so lines from several hosts sort and read without
 * conversion. Redaction is a second line of defence: code never passes key
 * material to a log call in the first place.
 */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  // loaded with the first logger: an operator command that logs nothing does without it
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'key', '*.key', 'sipPassword', '*.sipPassword', 'password', '*.password', 'secret', '*.secret', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    destination ?? process.stderr,
  );
}

let processLogger: Logger | undefined;

/**
 * The logger of this process, for code that is handed none (the store's
 * knex, Node's own warnings): the one a daemon set with `useProcessLogger`,
 * else a JSON logger at warn on stderr.
 */
export function currentLogger(): Logger {
  return (processLogger ??= createLogger(process.env.KEYSWITCH_LOG_LEVEL || 'warn'));
}

/**
 * Makes `logger` the process's: the store's knex messages go to it, and so
 * do Node's process warnings (deprecations, experimental features), which
 * Node would otherwise print as plain text on stderr.
 */
export function useProcessLogger(logger: Logger, o: { nodeWarnings?: boolean } = {}): void {
  processLogger = logger;
  if (o.nodeWarnings === false) return;
  process.removeAllListeners('warning');
  process.on('warning', (w) => logger.warn({ source: 'node', name: w.name, code: (w as { code?: string }).code }, firstLine(w.message)));
}

/** The first line of a message, bounded: a stack trace or a multi-line dump never reaches the log as is. */
export function firstLine(s: unknown): string {
  const text = typeof s === 'string' ? s : s instanceof Error ? `${s.name}: ${s.message}` : String(s);
  return text.split('\n')[0]!.slice(0, 500);
}

/**
 * knex's `log` option: its warnings and errors (e.g. "Acquire connection
 * error" with the driver's stack, which knex prints with console.log) become
 * one JSON event each at warn or error, with the message's first line only.
 */
export function knexLog(get: () => Logger = currentLogger): { warn(m: unknown): void; error(m: unknown): void; deprecate(m: unknown): void; debug(m: unknown): void } {
  const log = () => get().child({ source: 'knex' });
  return {
    warn: (m) => log().warn(firstLine(m)),
    error: (m) => log().error(firstLine(m)),
    deprecate: (m) => log().warn(firstLine(m)),
    debug: (m) => log().debug(firstLine(m)),
  };
}

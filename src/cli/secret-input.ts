/**
 * Secrets given to a command (keys, SIP passwords) can come from a file or
 * from standard input instead of the command line, where `ps` and shell
 * history would show them: `--key HEX`, `--key -` or `--key-stdin` (stdin),
 * `--key-file PATH`; likewise `--sip-password`.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './context.js';

export interface SecretFlags {
  /** The value itself; "-" reads it from stdin. */
  value?: string;
  file?: string;
  stdin?: boolean;
}

/** Reads standard input once: two secrets cannot both come from it. */
export class StdinOnce {
  #taken: string | undefined;
  constructor(private readonly read: () => string = () => readFileSync(0, 'utf8')) {}

  take(option: string): string {
    if (this.#taken) throw new UsageError(`${option} and ${this.#taken} cannot both be read from standard input`);
    this.#taken = option;
    if (process.stdin.isTTY) process.stderr.write(`${option}: type it, then Enter and Ctrl-D\n`);
    return this.read();
  }
}

/** The first line, without its line end: what `echo KEY > file` or a pipe gives. */
function firstLine(text: string): string {
  const nl = text.search(/\r?\n/);
  return nl < 0 ? text : text.slice(0, nl);
}

/**
 * The secret of option `--<name>` from its value, `--<name>-file` or
 * `--<name>-stdin` (at most one of them); undefined when none is given.
 * Messages never repeat the secret.
 */
export function readSecret(name: string, f: SecretFlags, stdin: StdinOnce): string | undefined {
  const given = [f.value !== undefined, f.file !== undefined, Boolean(f.stdin)].filter(Boolean).length;
  if (given > 1) throw new UsageError(`give one of --${name}, --${name}-file and --${name}-stdin`);
  if (f.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(f.file, 'utf8');
    } catch (err) {
      throw new UsageError(`--${name}-file: cannot read ${f.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const v = firstLine(text);
    if (!v) throw new UsageError(`--${name}-file: ${f.file} is empty`);
    return v;
  }
  if (f.stdin || f.value === '-') {
    const v = firstLine(stdin.take(`--${name}`));
    if (!v) throw new UsageError(`--${name}: nothing on standard input`);
    return v;
  }
  return f.value;
}

/** Help text for the three ways, shared by every command that takes the secret. */
export function secretHelp(name: string, what: string): { value: string; file: string; stdin: string } {
  return {
    value: `${what}; "-" reads it from standard input. On the command line it shows in ps and shell history: prefer --${name}-file or --${name}-stdin`,
    file: `read --${name} from the first line of this file (keep it mode 0600)`,
    stdin: `read --${name} from the first line of standard input`,
  };
}

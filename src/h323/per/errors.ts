/**
 * Errors of the PER layer. Decoding raises PerDecodeError internally and the
 * top-level decode turns it into a result, so nothing thrown by a hostile
 * message ever leaves the codec. Encoding raises PerEncodeError: the values
 * come from our own code, so a bad one is a programming error.
 */
export type PerErrorCode =
  | 'truncated' // the encoding ends before the value does
  | 'out-of-range' // a whole number or length outside its constraint
  | 'invalid-encoding' // bits that no valid encoding contains
  | 'too-large' // beyond what the codec accepts (length, count, nesting, integer size)
  | 'unsupported' // a known root alternative this codec does not model
  | 'trailing-data' // whole octets left after the value
  | 'internal'; // a bug: anything else thrown while decoding

export class PerDecodeError extends Error {
  constructor(
    readonly code: PerErrorCode,
    message: string,
    readonly bitOffset: number,
    public path: string[] = [],
  ) {
    super(message);
    this.name = 'PerDecodeError';
  }
}

/** Where a value sits, or how to say it: computed only when an error is thrown (joining it for every value is costly). */
export type PathText = string | (() => string);

export class PerEncodeError extends Error {
  readonly path: string;
  constructor(message: string, path: PathText) {
    const p = typeof path === 'function' ? path() : path;
    super(p ? `${p}: ${message}` : message);
    this.path = p;
    this.name = 'PerEncodeError';
  }
}

/** What a decode answers instead of throwing. */
export interface PerDecodeFailure {
  code: PerErrorCode;
  message: string;
  /** Bit offset in the input where decoding stopped. */
  bitOffset: number;
  /** Component names from the outermost type down to where decoding stopped. */
  path: string;
}

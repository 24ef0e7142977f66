import type { Avp } from './avp.js';

/**
 * A message that could be framed but not decoded. Carries the result code
 * RFC 6733 §7.1 asks for and, where one AVP is to blame, that AVP for Failed-AVP.
 */
export class DiameterDecodeError extends Error {
  constructor(
    readonly resultCode: number,
    message: string,
    readonly failedAvp?: Avp,
  ) {
    super(message);
    this.name = 'DiameterDecodeError';
  }
}

/** The connection carrying a request went away, or never came up. */
export class DiameterTransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiameterTransportError';
  }
}

/** No answer within the request timeout. */
export class DiameterTimeoutError extends Error {
  constructor(message = 'Diameter request timed out') {
    super(message);
    this.name = 'DiameterTimeoutError';
  }
}

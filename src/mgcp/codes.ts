/** RFC 3435 §2.4 return codes used here, with their standard commentary. */
export const MGCP_CODE_TEXT: Readonly<Record<number, string>> = {
  0: 'Response Acknowledgement',
  100: 'Transaction being executed',
  101: 'Transaction queued',
  200: 'OK',
  250: 'Connection deleted',
  400: 'Transient error',
  403: 'Insufficient resources now',
  406: 'Transaction time-out',
  409: 'Processing overload',
  500: 'Endpoint unknown',
  501: 'Endpoint not ready',
  502: 'Insufficient resources',
  504: 'Unknown or unsupported command',
  510: 'Protocol error',
  511: 'Unrecognized extension',
  520: 'Endpoint restarting',
  528: 'Incompatible protocol version',
  533: 'Response too large',
  538: 'Event/signal parameter error',
  539: 'Invalid or unsupported command parameter',
};

export const isProvisional = (code: number): boolean => code >= 100 && code <= 199;
export const isFinal = (code: number): boolean => code >= 200;
export const isSuccess = (code: number): boolean => code >= 200 && code <= 299;

// Shared by the API schemas, the CLI and the bulk import, so every entry
// point accepts exactly the same identities and keys.
export const IDENTITY_MAX = 255;
export const IDENTITY_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';
export const KEY_HEX_PATTERN = '^[0-9a-fA-F]{64}$';
export const SIP_PASSWORD_MAX = 128;

const identityRe = new RegExp(IDENTITY_PATTERN);
const keyRe = new RegExp(KEY_HEX_PATTERN);

export function identityProblem(id: string): string | undefined {
  if (id.length === 0) return 'identity is empty';
  if (id.length > IDENTITY_MAX) return `identity is longer than ${IDENTITY_MAX} characters`;
  if (!identityRe.test(id)) return 'identity contains control characters';
  return undefined;
}

export function keyProblem(hex: string): string | undefined {
  return keyRe.test(hex) ? undefined : 'key must be 64 hexadecimal digits (32 bytes)';
}

export function sipPasswordProblem(p: string): string | undefined {
  if (p.length === 0 || p.length > SIP_PASSWORD_MAX) return `SIP password must be 1 to ${SIP_PASSWORD_MAX} characters`;
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'SIP password contains control characters';
  return undefined;
}

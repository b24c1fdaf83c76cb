/** PKCE (RFC 7636), S256 only: SMART forbids `plain`. */
import { createHash } from 'node:crypto';

/** A challenge as `authorize` accepts it: base64url of a SHA-256 digest is 43 chars; allow up to 128. */
export const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;
/** A verifier as RFC 7636 §4.1 defines it. */
export const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

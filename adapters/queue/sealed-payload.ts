/**
 * AES-256-GCM sealing of what crosses Redis between a server and an adapter worker. The
 * additional data binds each sealed value to its place (source, job, direction), so a sealed
 * call cannot be replayed as another job's, nor a result swapped between jobs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value that does not open: another key, another place, or tampering. Says nothing of its content. */
export class SealedPayloadError extends Error {
  constructor() {
    super('sealed payload could not be opened (sealed with another queue key, or altered)');
    this.name = 'SealedPayloadError';
  }
}

export function seal(key: Buffer, place: string, value: unknown): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(place, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(value) ?? 'null', 'utf8'), cipher.final()]);
  return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function openSealed<T>(key: Buffer, place: string, sealed: unknown): T {
  if (typeof sealed !== 'string' || !sealed.startsWith(VERSION)) throw new SealedPayloadError();
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealedPayloadError();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(place, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    return JSON.parse(text) as T;
  } catch {
    throw new SealedPayloadError();
  }
}

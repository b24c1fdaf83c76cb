/**
 * The stateless paging cursor: per-source positions sealed with AES-256-GCM, so clients can
 * neither read upstream next-links or page tokens nor forge positions (any change fails the
 * GCM tag → 400). It is bound to the search it was issued for and expires.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { badRequest, OperationOutcomeError } from '@medplum/core';

/** Where one source stands: the page token being consumed and how many of its items are used. */
export interface SourcePosition {
  /** The adapter's opaque token of the page holding the next unconsumed item (absent: first page). */
  readonly page?: string;
  /** Items of that page already returned. */
  readonly skip: number;
  /** No items left at this source. */
  readonly done: boolean;
  /** The source failed on an earlier page (its issue code): later pages repeat the warning. */
  readonly failed?: string;
}

export type Positions = Readonly<Record<string, SourcePosition>>;

export interface CursorState {
  /** Hash of the normalized search the cursor belongs to. */
  readonly search: string;
  /** Page size used for every source request of this search (so page tokens stay aligned). */
  readonly sourceCount: number;
  readonly positions: Positions;
  /** Start positions of earlier pages, newest last (bounded), for `previous` links. */
  readonly back: readonly Positions[];
  /** Index of the first entry of this page in the whole result (also the offset for merged-Patient searches). */
  readonly offset: number;
  /** Sources' totals seen on the first page, when every source reported one. */
  readonly total?: number;
  /** Unix ms after which the cursor is refused. */
  readonly expires: number;
}

export const MAX_BACK_PAGES = 8;
export const CURSOR_TTL_MS = 60 * 60 * 1000;

export function searchFingerprint(normalizedSearch: string): string {
  return createHash('sha256').update(normalizedSearch).digest('base64url').slice(0, 22);
}

export class CursorSealer {
  readonly #key: Buffer;

  /** `secret`: any string; an AES-256 key is derived from it with HKDF. */
  constructor(secret: string | Buffer = randomBytes(32)) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'medrec-fhir', 'paging cursor v1', 32));
  }

  seal(state: CursorState): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** Opens a cursor for the search it must belong to; 400 OperationOutcome on anything wrong. */
  open(token: string, search: string, now = Date.now()): CursorState {
    const invalid = (why: string) => new OperationOutcomeError(badRequest(`Invalid _cursor: ${why}`, '_cursor'));
    if (!/^[A-Za-z0-9_-]{40,8192}$/.test(token)) throw invalid('malformed');
    const raw = Buffer.from(token, 'base64url');
    let state: CursorState;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      state = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as CursorState;
    } catch {
      throw invalid('not issued by this server or altered');
    }
    if (state.search !== search) throw invalid('issued for a different search');
    if (state.expires < now) throw invalid('expired, start the search again');
    return state;
  }
}

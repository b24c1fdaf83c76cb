/**
 * Resource ids across sources.
 *
 * - A patient's merged `Patient.id` is the patient key: a lowercase 0x address (42 chars).
 * - Any other resource (and a source's own Patient) gets `<sourceId>.<localId>` when the local
 *   id is a valid FHIR id not starting with `.` and the whole fits 64 chars. Source ids
 *   (`[a-z0-9-]{1,16}`) contain no dot, so the first dot splits it back.
 * - Otherwise (long or non-FHIR local ids, e.g. upstream URLs or OpenMRS uuids with odd
 *   characters) it is `<sourceId>..<digest>`: 32 hex chars of HMAC-SHA256(secret, source, local).
 *   The digest is stable across restarts and replicas sharing the secret; its reverse lookup
 *   is a `DigestReverseMap`, filled whenever such an id is issued: in-process by default, in
 *   Redis (`RedisDigestMap`) when the server has one, so every replica and restart resolves it.
 */
import { createHmac } from 'node:crypto';
import { FhirHttpError } from './outcomes.ts';

/** How long an answer waits for the ids it issued to be stored before it is refused (503). */
const ID_STORE_WAIT_MS = 2_000;

export const SOURCE_ID_PATTERN = /^[a-z0-9-]{1,16}$/;
export const PATIENT_KEY_PATTERN = /^0x[0-9a-f]{40}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DIRECT_LOCAL_ID = /^[A-Za-z0-9-][A-Za-z0-9\-.]*$/;

export interface SourceLocalId {
  readonly sourceId: string;
  readonly localId: string;
}

export function isPatientKey(id: string): boolean {
  return PATIENT_KEY_PATTERN.test(id);
}

export function isFhirId(id: string): boolean {
  return FHIR_ID.test(id);
}

/** Where digested ids are looked up again. */
export interface DigestReverseMap {
  get(digestId: string): SourceLocalId | undefined;
  set(digestId: string, value: SourceLocalId): void;
  /** Makes these ids answerable by `get` (a shared store fetches what this process has not seen). */
  prefetch?(digestIds: readonly string[]): Promise<void>;
  /** Whether every id `set` so far is stored, waiting at most `withinMs` (a shared store writes asynchronously). */
  flush?(withinMs?: number): Promise<boolean>;
}

const DIGEST_ID = /^[a-z0-9-]{1,16}\.\.[0-9a-f]{32}$/;

/** Insertion-ordered map that forgets its oldest entries beyond `capacity`. */
export class BoundedDigestMap implements DigestReverseMap {
  readonly #map = new Map<string, SourceLocalId>();
  readonly #capacity: number;
  constructor(capacity = 200_000) {
    this.#capacity = capacity;
  }
  get(id: string): SourceLocalId | undefined {
    return this.#map.get(id);
  }
  set(id: string, value: SourceLocalId): void {
    if (this.#map.has(id)) return;
    this.#map.set(id, value);
    if (this.#map.size > this.#capacity) this.#map.delete(this.#map.keys().next().value as string);
  }
}

export class ResourceIdCodec {
  readonly #secret: Buffer;
  readonly #digests: DigestReverseMap;

  constructor(secret: Buffer, digests: DigestReverseMap = new BoundedDigestMap()) {
    this.#secret = secret;
    this.#digests = digests;
  }

  encode(sourceId: string, localId: string): string {
    const direct = `${sourceId}.${localId}`;
    if (direct.length <= 64 && DIRECT_LOCAL_ID.test(localId)) return direct;
    const digest = createHmac('sha256', this.#secret).update(`${sourceId}\u0000${localId}`).digest('hex').slice(0, 32);
    const id = `${sourceId}..${digest}`;
    this.#digests.set(id, { sourceId, localId });
    return id;
  }

  /** Before decoding a request's ids: fetches the digested ones among them from a shared store. */
  async prefetch(ids: Iterable<string | undefined>): Promise<void> {
    if (!this.#digests.prefetch) return;
    const digested = [...ids].filter((id): id is string => id !== undefined && DIGEST_ID.test(id));
    if (digested.length > 0) await this.#digests.prefetch(digested);
  }

  /**
   * Before answering: the ids just issued are stored, so any replica can decode them. While the
   * id store is away the answer is 503 after a short wait (the writes carry on).
   */
  async stored(): Promise<void> {
    if (!((await this.#digests.flush?.(ID_STORE_WAIT_MS)) ?? true)) {
      throw new FhirHttpError(503, [{ severity: 'error', code: 'transient', details: { text: 'resource ids cannot be stored right now (id store unavailable); retry shortly' } }]);
    }
  }

  /** The source and local id behind a global id, or undefined when it is not one of ours. */
  decode(id: string): SourceLocalId | undefined {
    if (!FHIR_ID.test(id)) return undefined;
    const dot = id.indexOf('.');
    if (dot <= 0) return undefined;
    const sourceId = id.slice(0, dot);
    if (!SOURCE_ID_PATTERN.test(sourceId)) return undefined;
    const rest = id.slice(dot + 1);
    if (rest.startsWith('.')) return this.#digests.get(id);
    return rest.length > 0 ? { sourceId, localId: rest } : undefined;
  }
}

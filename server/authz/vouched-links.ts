/**
 * The node's patient links as the FHIR layer sees them: only those the chain still vouches for.
 * A link (patient, source) resolves while the source's provider has an active relationship with
 * the patient in the Redis relationship index whose commitment the provider's current rows for
 * that patient (with their salt) reproduce: rows linked at start or by the console alike, so a
 * re-committed relationship keeps its links when its rows match and loses them when not. When the follower
 * announces a window naming a patient (a relationship added, updated or ended), that patient's
 * links stop resolving at once and come back only after its relationships are read again, so an
 * ended relationship stops the provider's records on the next request after its block.
 */
import type { Redis } from 'ioredis';
import type { PatientLink, PatientLinks } from '../fhir/patient-links.ts';
import type { AuthzKeys } from './authz-keys.ts';
import { linkCommitment } from '../../contracts/link-commitment.ts';

export interface VouchedLinksOptions {
  /** Hot-path commands (fail fast while Redis is away). */
  readonly redis: Redis;
  readonly keys: AuthzKeys;
  /** Provider address (lowercase) holding each source's records. */
  readonly providerOfSource: (sourceId: string) => string | undefined;
  /** The salt the provider committed with for one patient (as at start verification). */
  readonly saltOf: (provider: string, patient: string) => string | undefined;
}

/** One (provider, patient) group's rows as last seen and the commitment they recompute to. */
interface Recomputed {
  readonly rows: string;
  readonly commitment: string | undefined;
}

/** Which providers' groups of one patient's links are vouched for, as of one array of its links. */
interface Vouched {
  readonly links: readonly PatientLink[];
  /** Provider → whether its group reproduces the commitment held for it (filled as asked). */
  readonly byProvider: Map<string, boolean>;
}

export class ChainVouchedLinks implements PatientLinks {
  readonly #inner: PatientLinks;
  readonly #o: VouchedLinksOptions;
  /** Patient → (provider → on-chain commitment), for the patients whose relationships were read. */
  readonly #held = new Map<string, Map<string, string>>();
  /** Patients whose relationships are to be read (dropped, never read, or a read failed). */
  readonly #pending = new Set<string>();
  /**
   * Patient → (provider → that group's commitment): hashing per lookup would be too slow, and rows
   * change rarely. A group is forgotten once its rows or its relationship are gone.
   */
  readonly #recomputed = new Map<string, Map<string, Recomputed>>();
  /**
   * Per patient's held commitments (a new map per read): what its links are vouched for, so a
   * lookup is identity checks while neither they nor the links array (new on every change) change.
   */
  readonly #vouchedFor = new WeakMap<ReadonlyMap<string, string>, Vouched>();
  /** Bumped per patient (and for all) when what is known is dropped: an older read is discarded. */
  readonly #generation = new Map<string, number>();
  #epoch = 0;

  constructor(inner: PatientLinks, options: VouchedLinksOptions) {
    this.#inner = inner;
    this.#o = options;
    for (const p of inner.patients()) this.#pending.add(p);
  }

  /**
   * Drops what is known of these patients' relationships (`*`: everyone's) and reads it again,
   * with any read still pending. Until then their links do not resolve.
   */
  async refresh(patients: readonly string[] | '*'): Promise<void> {
    if (patients === '*') {
      this.#epoch++;
      for (const p of this.#held.keys()) this.#pending.add(p);
      for (const p of this.#inner.patients()) this.#pending.add(p);
      this.#held.clear();
    } else {
      for (const raw of patients) {
        const p = raw.toLowerCase();
        if (this.#inner.linksOf(p).length === 0 && !this.#held.has(p)) continue; // not linked here
        this.#generation.set(p, (this.#generation.get(p) ?? 0) + 1);
        this.#held.delete(p);
        this.#pending.add(p);
      }
    }
    const wanted = [...this.#pending];
    if (wanted.length === 0) return;
    const epoch = this.#epoch;
    const generations = wanted.map((p) => this.#generation.get(p) ?? 0);
    const pipe = this.#o.redis.pipeline();
    for (const p of wanted) pipe.hgetall(this.#o.keys.providersOfPatient(p));
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipe.exec();
    } catch {
      return; // Redis away: they stay pending; the next refresh retries
    }
    if (!replies || epoch !== this.#epoch) return;
    wanted.forEach((patient, i) => {
      const [err, held] = replies[i] ?? [new Error('no reply'), undefined];
      if (err || typeof held !== 'object' || held === null) return;
      if ((this.#generation.get(patient) ?? 0) !== generations[i]) return; // dropped again meanwhile
      const providers = new Map<string, string>();
      for (const [provider, commitment] of Object.entries(held as Record<string, string>)) providers.set(provider, commitment.toLowerCase());
      this.#held.set(patient, providers);
      this.#pending.delete(patient);
      this.#forgetGone(patient, providers);
    });
  }

  /** Drops the cached commitments of this patient's groups whose relationship or rows are gone. */
  #forgetGone(patient: string, held: ReadonlyMap<string, string>): void {
    const cached = this.#recomputed.get(patient);
    if (!cached) return;
    const linked = new Set(this.#inner.linksOf(patient).map((l) => this.#o.providerOfSource(l.sourceId)));
    for (const provider of [...cached.keys()]) if (!held.has(provider) || !linked.has(provider)) this.#forget(patient, provider);
  }

  #forget(patient: string, provider: string): void {
    const cached = this.#recomputed.get(patient);
    cached?.delete(provider);
    if (cached?.size === 0) this.#recomputed.delete(patient);
  }

  #vouched(patient: string, sourceId: string): boolean {
    const held = this.#held.get(patient);
    if (!held) {
      // Linked after start and never announced: read it for the next request.
      if (!this.#pending.has(patient) && this.#inner.linksOf(patient).length > 0) {
        this.#pending.add(patient);
        void this.refresh([]);
      }
      return false;
    }
    const provider = this.#o.providerOfSource(sourceId);
    if (provider === undefined) return false;
    const links = this.#inner.linksOf(patient);
    let vouched = this.#vouchedFor.get(held);
    if (vouched?.links !== links) this.#vouchedFor.set(held, (vouched = { links, byProvider: new Map() }));
    let answer = vouched.byProvider.get(provider);
    if (answer === undefined) {
      const onChain = held.get(provider);
      answer = onChain !== undefined && this.#commitmentOfRows(provider, patient, links) === onChain;
      vouched.byProvider.set(provider, answer);
    }
    return answer;
  }

  /**
   * The commitment the provider's current rows for the patient recompute to (undefined without
   * rows or salt). Cached per group; the cache entry is replaced as soon as the rows differ, and
   * dropped when there are none.
   */
  #commitmentOfRows(provider: string, patient: string, links: readonly PatientLink[]): string | undefined {
    const group = links.filter((l) => this.#o.providerOfSource(l.sourceId) === provider);
    if (group.length === 0) {
      this.#forget(patient, provider);
      return undefined;
    }
    const rows = group.map((l) => `${l.sourceId}\u0000${l.localId}`).join('\u0001');
    let byProvider = this.#recomputed.get(patient);
    const cached = byProvider?.get(provider);
    if (cached?.rows === rows) return cached.commitment;
    const salt = this.#o.saltOf(provider, patient);
    let commitment: string | undefined;
    try {
      if (salt) commitment = linkCommitment({ provider, patient, salt, links: group }).toLowerCase();
    } catch {
      // A row the commitment cannot encode (a patient key that is no address) vouches for nothing.
    }
    if (!byProvider) this.#recomputed.set(patient, (byProvider = new Map()));
    byProvider.set(provider, { rows, commitment });
    return commitment;
  }

  localIds(patient: string, sourceId: string): readonly string[] {
    return this.#vouched(patient, sourceId) ? this.#inner.localIds(patient, sourceId) : [];
  }

  patientOf(sourceId: string, localId: string): string | undefined {
    const patient = this.#inner.patientOf(sourceId, localId);
    return patient !== undefined && this.#vouched(patient, sourceId) ? patient : undefined;
  }

  linksOf(patient: string): readonly PatientLink[] {
    return this.#inner.linksOf(patient).filter((l) => this.#vouched(patient, l.sourceId));
  }

  patients(): readonly string[] {
    return this.#inner.patients().filter((p) => this.linksOf(p).length > 0);
  }
}

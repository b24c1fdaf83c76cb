/**
 * Notifications for patients, built from the chain's own events (nobody else keeps a feed): new
 * records at a provider (`RecordsChanged`), study invitations, access requests, grants given or
 * taken away, and grants that end within a week (checked when someone connects, when a grant is
 * made, and every minute while they listen). Logs are read only while someone listens, from a
 * cursor; the last few per patient are replayed to a new connection.
 */
import type { NotificationView } from '../shared/src/api-types.ts';
import { recordTypeLabel } from '../shared/src/fhir-display.ts';
import type { NotificationHub } from '../api/desks.ts';
import type { MedRecChain } from './medrec-chain.ts';
import type { ParticipantNames } from './participant-names.ts';

const KEEP_PER_ADDRESS = 50;
const EXPIRY_WARNING_SECONDS = 7 * 86_400;
/** Widest block range asked at once (node limits). */
const MAX_WINDOW = 5_000;

export interface ChainNotificationsOptions {
  readonly chain: MedRecChain;
  readonly names: ParticipantNames;
  /** First block to read (the deployment block). */
  readonly fromBlock: number;
  readonly pollMs?: number;
  /** How often the grants of people listening are checked for one entering its last week (default 1 min). */
  readonly expiryCheckMs?: number;
  /** Clock in unix seconds (default: wall clock). */
  readonly now?: () => number;
  readonly onError?: (error: Error) => void;
}

export class ChainNotifications implements NotificationHub {
  readonly #o: ChainNotificationsOptions;
  readonly #recent = new Map<string, NotificationView[]>();
  readonly #listeners = new Map<string, Set<(n: NotificationView) => void>>();
  readonly #warned = new Set<string>();
  #cursor: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #lastExpiryCheck = 0;

  constructor(options: ChainNotificationsOptions) {
    this.#o = options;
    this.#cursor = options.fromBlock - 1;
  }

  recent(address: string): NotificationView[] {
    return [...(this.#recent.get(address) ?? [])].reverse();
  }

  subscribe(address: string, listener: (n: NotificationView) => void): () => void {
    const set = this.#listeners.get(address) ?? new Set();
    set.add(listener);
    this.#listeners.set(address, set);
    this.#schedule(0);
    void this.#checkExpiring(address);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(address);
      if (this.#listeners.size === 0 && this.#timer) { clearTimeout(this.#timer); this.#timer = undefined; }
    };
  }

  /** Reads every new block once (tests call it to catch up deterministically). */
  async poll(): Promise<void> {
    this.#running ??= this.#read().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#listeners.clear();
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.poll().then(() => this.#expiringDue()).catch((e: unknown) => this.#o.onError?.(e as Error)).finally(() => {
        if (this.#listeners.size > 0) this.#schedule(this.#o.pollMs ?? 1000);
      });
    }, ms);
    this.#timer.unref();
  }

  #push(address: string, n: NotificationView): void {
    const a = address.toLowerCase();
    const list = this.#recent.get(a) ?? [];
    if (list.some((x) => x.id === n.id)) return;
    list.push(n);
    if (list.length > KEEP_PER_ADDRESS) list.shift();
    this.#recent.set(a, list);
    for (const l of this.#listeners.get(a) ?? []) l(n);
  }

  async #read(): Promise<void> {
    const { chain } = this.#o;
    const head = await chain.provider.getBlockNumber();
    while (this.#cursor < head) {
      const from = this.#cursor + 1;
      const to = Math.min(head, from + MAX_WINDOW - 1);
      const logs = await chain.provider.getLogs({ address: [chain.consent.address, chain.relationships.address], fromBlock: from, toBlock: to });
      const times = new Map<number, string>();
      for (const log of logs) {
        let at = times.get(log.blockNumber);
        if (!at) {
          const block = await chain.provider.getBlock(log.blockNumber);
          at = new Date((block?.timestamp ?? Math.floor(Date.now() / 1000)) * 1000).toISOString();
          times.set(log.blockNumber, at);
        }
        await this.#fold(log, at);
      }
      this.#cursor = to;
    }
  }

  async #fold(log: Parameters<MedRecChain['consent']['decodeLog']>[0] & { blockNumber: number; index?: number }, at: string): Promise<void> {
    const { chain, names } = this.#o;
    const id = `${log.blockNumber}-${log.index ?? 0}`;
    const rel = chain.relationships.decodeLog(log);
    if (rel?.name === 'RecordsChanged') {
      const provider = await names.describe(rel.args.provider);
      const types = rel.args.resourceTypes.length ? rel.args.resourceTypes.map((t) => recordTypeLabel(t).toLowerCase()).join(', ') : 'records';
      this.#push(rel.args.patient, { id, kind: 'record-change', at, text: `New or updated ${types} at ${provider.name}.` });
      return;
    }
    if (rel?.name === 'RelationshipAdded') {
      const provider = await names.describe(rel.args.provider);
      this.#push(rel.args.patient, { id, kind: 'record-change', at, text: `${provider.name} linked your records to your account.` });
      return;
    }
    const ev = chain.consent.decodeLog(log);
    if (!ev) return;
    switch (ev.name) {
      case 'StudyInvited': {
        const study = await chain.consent.read('getStudy', ev.args.studyId);
        this.#push(ev.args.patient, { id, kind: 'study-invitation', at, text: `You are invited to the study “${study.title}”. See “Share” to join.` });
        break;
      }
      case 'AccessRequested': {
        const who = await names.describe(ev.args.requester);
        this.#push(ev.args.patient, { id, kind: 'access-request', at, text: `${who.name} asks to see your records. See “Requests”.` });
        break;
      }
      case 'GrantCreated': {
        const who = await names.describe(ev.args.grantee);
        this.#push(ev.args.patient, { id, kind: 'grant-change', at, text: `${who.name} can now see some of your records.` });
        if (this.#listeners.has(ev.args.patient.toLowerCase())) await this.#checkExpiring(ev.args.patient.toLowerCase());
        break;
      }
      case 'GrantRevoked': {
        const grant = await chain.consent.read('getGrant', ev.args.grantId);
        const who = await names.describe(grant.grantee);
        this.#push(ev.args.patient, { id, kind: 'grant-change', at, text: `${who.name} can no longer see your records (grant ${ev.args.grantId} revoked).` });
        break;
      }
      case 'DelegationSet': {
        const who = await names.describe(ev.args.proxy);
        this.#push(ev.args.patient, { id, kind: 'grant-change', at, text: `${who.name} is your healthcare proxy.` });
        break;
      }
      case 'DelegationRevoked': {
        const who = await names.describe(ev.args.proxy);
        this.#push(ev.args.patient, { id, kind: 'grant-change', at, text: `${who.name} is no longer your healthcare proxy.` });
        break;
      }
      default:
        break;
    }
  }

  /** A grant enters its last week while its patient has the app open: checked every `expiryCheckMs`. */
  async #expiringDue(): Promise<void> {
    const now = this.#now();
    if ((now - this.#lastExpiryCheck) * 1000 < (this.#o.expiryCheckMs ?? 60_000)) return;
    this.#lastExpiryCheck = now;
    for (const address of [...this.#listeners.keys()]) await this.#checkExpiring(address);
  }

  #now(): number {
    return this.#o.now?.() ?? Math.floor(Date.now() / 1000);
  }

  /** Warns once per grant that ends within a week. */
  async #checkExpiring(patient: string): Promise<void> {
    try {
      const { consent } = this.#o.chain;
      const now = this.#now();
      for (const id of await consent.read('grantIdsByPatient', patient)) {
        const key = `${patient}:${id}`;
        if (this.#warned.has(key)) continue;
        const g = await consent.read('getGrant', id);
        const end = g.terms.expiresAt;
        if (g.revoked || end === 0 || end <= now || end - now > EXPIRY_WARNING_SECONDS) continue;
        this.#warned.add(key);
        const who = await this.#o.names.describe(g.grantee);
        const days = Math.max(1, Math.round((end - now) / 86_400));
        this.#push(patient, { id: `expiring-${id}`, kind: 'grant-expiring', at: new Date().toISOString(), text: `${who.name}'s access ends in ${days} day${days === 1 ? '' : 's'}. Share again if they still need it.` });
      }
    } catch (error) {
      this.#o.onError?.(error as Error);
    }
  }
}

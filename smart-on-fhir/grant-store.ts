/**
 * Server-side state of the authorization server, in Redis so every replica shares it:
 * authorization codes (single use), grants (what a token stands for; deleting one revokes every
 * token of it at once), rotating refresh tokens, EHR launches, sign-in sessions, SIWE nonces,
 * pending authorize interactions and the client-assertion `jti` replay cache.
 *
 * The resource server's hot path asks `isGrantActive`: an in-process cache answers for a few
 * seconds, revocations evict it on every replica through pub/sub, so a revoked token is refused
 * on the next request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What an access token stands for; `id` is the token's `gid` claim. */
export interface GrantRecord {
  readonly id: string;
  readonly clientId: string;
  /** The user's (or backend client's bound) address. */
  readonly subject: string;
  /** Granted scopes, space separated, as answered in the token response. */
  readonly scope: string;
  readonly patient?: string;
  readonly encounter?: string;
  readonly fhirUser?: string;
  readonly kind: 'user' | 'backend';
  /** Unix seconds when the grant itself ends (the last refresh token's horizon). */
  readonly expiresAt: number;
  readonly needPatientBanner?: boolean;
}

/** The authorize step's outcome, redeemed once at the token endpoint. */
export interface CodeRecord {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeChallenge?: string;
  readonly scope: string;
  readonly subject: string;
  readonly patient?: string;
  readonly encounter?: string;
  readonly fhirUser?: string;
  readonly nonce?: string;
  readonly authTime: number;
  readonly needPatientBanner: boolean;
}

export interface LaunchRecord {
  readonly clientId: string;
  /** Who started the launch (the EHR user). */
  readonly subject: string;
  readonly patient: string;
  readonly encounter?: string;
}

export interface SessionRecord {
  readonly address: string;
  readonly authTime: number;
}

/** A pending authorize request between the app's redirect and the code. */
export interface InteractionRecord {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly scope: string;
  readonly codeChallenge?: string;
  readonly nonce?: string;
  readonly launch?: LaunchRecord;
  /** Set once the user picked a patient (standalone `launch/patient`). */
  readonly patient?: string;
}

export interface GrantStoreOptions {
  readonly redis: Redis;
  readonly prefix: string;
  /** How long the in-process "grant is active" answer is trusted without pub/sub news. Ms. */
  readonly activeCacheMs?: number;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class GrantStore {
  readonly #redis: Redis;
  readonly #p: string;
  readonly #cacheMs: number;
  readonly #active = new Map<string, number>();

  constructor(options: GrantStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix;
    this.#cacheMs = options.activeCacheMs ?? 10_000;
  }

  /** Channel carrying revoked grant ids; the plugin subscribes and calls `evict`. */
  get revocationChannel(): string {
    return `${this.#p}grants:revoked`;
  }

  // --- codes -------------------------------------------------------------------------------

  async createCode(record: CodeRecord, ttlSeconds: number): Promise<string> {
    const code = randomToken();
    await this.#redis.set(`${this.#p}code:${hash(code)}`, JSON.stringify(record), 'EX', ttlSeconds);
    return code;
  }

  /**
   * Takes a code out (single use). A second use finds nothing but the marker of the grant the
   * first use produced, which the caller revokes (RFC 6749 §4.1.2).
   */
  async redeemCode(code: string): Promise<{ record?: CodeRecord; reusedGrant?: string }> {
    const key = `${this.#p}code:${hash(code)}`;
    const json = await this.#redis.getdel(key);
    if (json) return { record: JSON.parse(json) as CodeRecord };
    const used = await this.#redis.get(`${this.#p}code-used:${hash(code)}`);
    return used ? { reusedGrant: used } : {};
  }

  async markCodeUsed(code: string, grantId: string): Promise<void> {
    await this.#redis.set(`${this.#p}code-used:${hash(code)}`, grantId, 'EX', 600);
  }

  // --- grants and refresh tokens --------------------------------------------------------------

  async createGrant(record: Omit<GrantRecord, 'id'>): Promise<GrantRecord> {
    const grant: GrantRecord = { ...record, id: randomToken(16) };
    const ttl = Math.max(1, grant.expiresAt - Math.floor(Date.now() / 1000));
    const tx = this.#redis.multi().set(`${this.#p}grant:${grant.id}`, JSON.stringify(grant), 'EX', ttl);
    // The user's own list of apps with access (the management page); pruned as grants end.
    if (grant.kind === 'user') tx.zadd(`${this.#p}user-grants:${grant.subject}`, grant.expiresAt, grant.id);
    await tx.exec();
    return grant;
  }

  /** The user's live grants, newest horizon first. */
  async grantsOfUser(subject: string): Promise<GrantRecord[]> {
    const key = `${this.#p}user-grants:${subject}`;
    await this.#redis.zremrangebyscore(key, '-inf', Math.floor(Date.now() / 1000));
    const ids = await this.#redis.zrevrange(key, 0, 199);
    const out: GrantRecord[] = [];
    for (const id of ids) {
      const grant = await this.getGrant(id);
      if (grant) out.push(grant);
      else await this.#redis.zrem(key, id);
    }
    return out;
  }

  /** A refresh that narrowed the scope narrows the grant for every later refresh too. */
  async updateGrantScope(grant: GrantRecord, scope: string): Promise<GrantRecord> {
    const next: GrantRecord = { ...grant, scope };
    await this.#redis.set(`${this.#p}grant:${grant.id}`, JSON.stringify(next), 'KEEPTTL');
    return next;
  }

  async getGrant(id: string): Promise<GrantRecord | undefined> {
    const json = await this.#redis.get(`${this.#p}grant:${id}`);
    return json ? (JSON.parse(json) as GrantRecord) : undefined;
  }

  /** The resource server's check: one Redis lookup at most, cached briefly in process. */
  async isGrantActive(id: string): Promise<boolean> {
    const until = this.#active.get(id);
    const now = Date.now();
    if (until !== undefined && until > now) return true;
    const exists = (await this.#redis.exists(`${this.#p}grant:${id}`)) === 1;
    if (exists) {
      if (this.#active.size > 100_000) this.#active.clear();
      this.#active.set(id, now + this.#cacheMs);
    } else {
      this.#active.delete(id);
    }
    return exists;
  }

  /** The in-process answer only: true while a recent lookup said active, else undefined (ask Redis). */
  grantActiveCached(id: string): true | undefined {
    const until = this.#active.get(id);
    return until !== undefined && until > Date.now() ? true : undefined;
  }

  /** Revokes a grant: every access and refresh token of it stops working on every replica. */
  async revokeGrant(id: string): Promise<void> {
    this.#active.delete(id);
    await this.#redis.del(`${this.#p}grant:${id}`);
    await this.#redis.publish(this.revocationChannel, id);
  }

  evict(id: string): void {
    this.#active.delete(id);
  }

  async issueRefreshToken(grant: GrantRecord): Promise<string> {
    const token = randomToken();
    const ttl = Math.max(1, grant.expiresAt - Math.floor(Date.now() / 1000));
    await this.#redis.set(`${this.#p}refresh:${hash(token)}`, grant.id, 'EX', ttl);
    return token;
  }

  /**
   * Takes a refresh token out (rotation: each one works once) and returns its grant. The spent
   * token is remembered for the grant's lifetime: presenting it again means it was copied, and
   * `usedRefreshTokenGrant` lets the caller revoke the whole grant (OAuth 2.1 reuse detection).
   */
  async redeemRefreshToken(token: string): Promise<GrantRecord | undefined> {
    const id = await this.#redis.getdel(`${this.#p}refresh:${hash(token)}`);
    if (!id) return undefined;
    const grant = await this.getGrant(id);
    if (grant) await this.#redis.set(`${this.#p}refresh-used:${hash(token)}`, id, 'EX', Math.max(1, grant.expiresAt - Math.floor(Date.now() / 1000)));
    return grant;
  }

  async usedRefreshTokenGrant(token: string): Promise<string | undefined> {
    return (await this.#redis.get(`${this.#p}refresh-used:${hash(token)}`)) ?? undefined;
  }

  async refreshTokenGrant(token: string): Promise<string | undefined> {
    return (await this.#redis.get(`${this.#p}refresh:${hash(token)}`)) ?? undefined;
  }

  // --- launches, sessions, interactions, nonces ----------------------------------------------

  async createLaunch(record: LaunchRecord, ttlSeconds: number): Promise<string> {
    const id = randomToken(18);
    await this.#redis.set(`${this.#p}launch:${id}`, JSON.stringify(record), 'EX', ttlSeconds);
    return id;
  }

  /** Takes a launch out: each launch id starts one authorization, once. */
  async takeLaunch(id: string): Promise<LaunchRecord | undefined> {
    const json = await this.#redis.getdel(`${this.#p}launch:${id}`);
    return json ? (JSON.parse(json) as LaunchRecord) : undefined;
  }

  async createSession(record: SessionRecord, ttlSeconds: number): Promise<string> {
    const id = randomToken();
    await this.#redis.set(`${this.#p}session:${hash(id)}`, JSON.stringify(record), 'EX', ttlSeconds);
    return id;
  }

  async getSession(id: string | undefined): Promise<SessionRecord | undefined> {
    if (!id) return undefined;
    const json = await this.#redis.get(`${this.#p}session:${hash(id)}`);
    return json ? (JSON.parse(json) as SessionRecord) : undefined;
  }

  async deleteSession(id: string): Promise<void> {
    await this.#redis.del(`${this.#p}session:${hash(id)}`);
  }

  async createInteraction(record: InteractionRecord, ttlSeconds: number): Promise<string> {
    const id = randomToken(18);
    await this.#redis.set(`${this.#p}interaction:${id}`, JSON.stringify(record), 'EX', ttlSeconds);
    return id;
  }

  async getInteraction(id: string): Promise<InteractionRecord | undefined> {
    if (!/^[A-Za-z0-9_-]{10,64}$/.test(id)) return undefined;
    const json = await this.#redis.get(`${this.#p}interaction:${id}`);
    return json ? (JSON.parse(json) as InteractionRecord) : undefined;
  }

  async updateInteraction(id: string, record: InteractionRecord): Promise<void> {
    await this.#redis.set(`${this.#p}interaction:${id}`, JSON.stringify(record), 'KEEPTTL');
  }

  /** Ends an interaction (its code was issued or it was denied); true only for the first caller. */
  async finishInteraction(id: string): Promise<boolean> {
    return (await this.#redis.del(`${this.#p}interaction:${id}`)) === 1;
  }

  async createNonce(ttlSeconds: number): Promise<string> {
    const nonce = randomBytes(12).toString('hex');
    await this.#redis.set(`${this.#p}siwe:${nonce}`, '1', 'EX', ttlSeconds);
    return nonce;
  }

  async consumeNonce(nonce: string): Promise<boolean> {
    return (await this.#redis.del(`${this.#p}siwe:${nonce}`)) === 1;
  }

  /** Records a client assertion's jti; false when it was seen before (replay). */
  async rememberJti(issuer: string, jti: string, ttlSeconds: number): Promise<boolean> {
    const key = `${this.#p}jti:${hash(`${issuer}\u0000${jti}`)}`;
    return (await this.#redis.set(key, '1', 'EX', Math.max(1, ttlSeconds), 'NX')) === 'OK';
  }

  // --- dynamically registered clients ---------------------------------------------------------

  /** A self-registered client lives `ttlSeconds` past its last use (each lookup renews it). */
  async saveClient(id: string, json: string, ttlSeconds: number): Promise<void> {
    await this.#redis.multi().set(`${this.#p}client:${id}`, json, 'EX', ttlSeconds).sadd(`${this.#p}clients`, id).exec();
  }

  /** Counts one registration from `source` in the current hour; false once `limit` is passed. */
  async allowRegistration(source: string, limit: number): Promise<boolean> {
    const key = `${this.#p}registrations:${hash(source)}:${Math.floor(Date.now() / 3600_000)}`;
    const [[, count]] = (await this.#redis.multi().incr(key).expire(key, 3600).exec()) as [[Error | null, number], unknown];
    return count <= limit;
  }

  /** Every registered client's JSON (the set of ids is pruned of clients that are gone). */
  async registeredClients(): Promise<string[]> {
    const ids = await this.#redis.smembers(`${this.#p}clients`);
    if (ids.length === 0) return [];
    const found = await this.#redis.mget(ids.map((id) => `${this.#p}client:${id}`));
    const gone = ids.filter((_, i) => found[i] === null);
    if (gone.length > 0) await this.#redis.srem(`${this.#p}clients`, ...gone);
    return found.filter((json): json is string => json !== null);
  }

  async loadClient(id: string, renewTtlSeconds: number): Promise<string | undefined> {
    return (await this.#redis.getex(`${this.#p}client:${id}`, 'EX', renewTtlSeconds)) ?? undefined;
  }
}

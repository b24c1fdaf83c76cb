/**
 * The server's rotating signing keys (RS256: access tokens and OIDC id_tokens). Keys live in Redis
 * so that every replica signs and verifies with the same set; each replica keeps them imported in
 * memory and reloads when another replica rotates (pub/sub) or when a token names an unknown kid.
 * A retired key stays published in the JWKS until every token it signed has expired.
 */
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK, type CryptoKey } from 'jose';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export const SIGNING_ALG = 'RS256';

interface StoredKey {
  readonly kid: string;
  /** In the clear only when no sealing secret is configured. */
  readonly privateJwk?: JWK;
  /** AES-256-GCM of the private JWK: base64url(iv ‖ tag ‖ ciphertext). */
  readonly sealed?: string;
  /** Public part, so the JWKS can be served without unsealing. */
  readonly publicJwk?: JWK;
  readonly createdAt: number;
  readonly retiredAt?: number;
}

interface LoadedKey {
  readonly stored: StoredKey;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface SigningKeysOptions {
  readonly redis: Redis;
  /** Redis key prefix (tests give each server its own). */
  readonly prefix: string;
  /** How long a retired key stays published: at least the longest token lifetime. Seconds. */
  readonly retainRetiredSeconds: number;
  /**
   * A secret shared by the replicas; with it private keys are stored sealed (AES-256-GCM under
   * an HKDF-derived key), so reading Redis is not enough to mint tokens.
   */
  readonly sealingSecret?: string | Buffer;
}

export class SigningKeys {
  readonly #redis: Redis;
  readonly #hash: string;
  readonly #channel: string;
  readonly #retain: number;
  readonly #sealKey: Buffer | undefined;
  #keys = new Map<string, LoadedKey>();
  #active: LoadedKey | undefined;
  #lastReload = 0;

  constructor(options: SigningKeysOptions) {
    this.#redis = options.redis;
    this.#hash = `${options.prefix}keys`;
    this.#channel = `${options.prefix}keys:rotated`;
    this.#retain = options.retainRetiredSeconds;
    this.#sealKey = options.sealingSecret
      ? Buffer.from(hkdfSync('sha256', options.sealingSecret, 'medrec-smart', 'signing keys at rest', 32))
      : undefined;
  }

  /** The pub/sub channel announcing rotations; the plugin subscribes and calls `reload()`. */
  get channel(): string {
    return this.#channel;
  }

  /** Loads the shared key set, creating the first key when there is none. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.#active) {
      await this.#add();
      await this.reload();
    }
  }

  async reload(): Promise<void> {
    this.#lastReload = Date.now();
    const raw = await this.#redis.hgetall(this.#hash);
    const now = Math.floor(Date.now() / 1000);
    const next = new Map<string, LoadedKey>();
    for (const json of Object.values(raw)) {
      const stored = JSON.parse(json) as StoredKey;
      if (stored.retiredAt !== undefined && stored.retiredAt + this.#retain < now) continue;
      next.set(stored.kid, this.#keys.get(stored.kid) ?? (await load(stored, this.#unseal(stored))));
    }
    this.#keys = next;
    this.#active = [...next.values()]
      .filter((k) => k.stored.retiredAt === undefined)
      .sort((a, b) => b.stored.createdAt - a.stored.createdAt || (a.stored.kid < b.stored.kid ? -1 : 1))[0];
  }

  /** Starts signing with a new key; the old ones stay valid for verification until they age out. */
  async rotate(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    for (const key of this.#keys.values()) {
      if (key.stored.retiredAt === undefined) {
        await this.#redis.hset(this.#hash, key.stored.kid, JSON.stringify({ ...key.stored, retiredAt: now }));
      }
    }
    const kid = await this.#add();
    // Drop keys whose retirement window is over.
    for (const [kid2, json] of Object.entries(await this.#redis.hgetall(this.#hash))) {
      const stored = JSON.parse(json) as StoredKey;
      if (stored.retiredAt !== undefined && stored.retiredAt + this.#retain < now) await this.#redis.hdel(this.#hash, kid2);
    }
    await this.reload();
    await this.#redis.publish(this.#channel, kid);
    return kid;
  }

  /**
   * Rotates when the active key is older than `maxAgeSeconds`; one replica does it (a short Redis
   * lock), the others pick the new key up through pub/sub. Returns the new kid, if it rotated.
   */
  async rotateIfOlderThan(maxAgeSeconds: number): Promise<string | undefined> {
    const active = this.#active;
    if (!active || Date.now() / 1000 - active.stored.createdAt < maxAgeSeconds) return undefined;
    const locked = await this.#redis.set(`${this.#hash}:rotating`, '1', 'EX', 60, 'NX');
    if (locked !== 'OK') return undefined;
    await this.reload();
    if (this.#active && Date.now() / 1000 - this.#active.stored.createdAt < maxAgeSeconds) return undefined;
    return this.rotate();
  }

  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.#active) throw new Error('signing keys not initialised');
    return { kid: this.#active.stored.kid, key: this.#active.privateKey };
  }

  /** The public key for a kid: from memory, or after one reload (at most every 5 s) for unknown kids. */
  async verificationKey(kid: string | undefined): Promise<CryptoKey | undefined> {
    if (!kid) return undefined;
    const known = this.#keys.get(kid);
    if (known) return known.publicKey;
    if (Date.now() - this.#lastReload < 5000) return undefined;
    await this.reload();
    return this.#keys.get(kid)?.publicKey;
  }

  /** The published JWKS: bare public keys with kid, alg and use. */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.#keys.values()].map((k) => k.publicJwk) };
  }

  #unseal(stored: StoredKey): JWK {
    if (stored.privateJwk) return stored.privateJwk;
    if (!stored.sealed || !this.#sealKey) throw new Error(`signing key ${stored.kid} is sealed and no sealing secret is configured`);
    return JSON.parse(unseal(this.#sealKey, stored.sealed)) as JWK;
  }

  async #add(): Promise<string> {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
    const exported = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint({ kty: exported.kty!, n: exported.n!, e: exported.e! });
    const privateJwk: JWK = { ...exported, kid, alg: SIGNING_ALG };
    const publicJwk: JWK = { kty: exported.kty, n: exported.n, e: exported.e, kid, alg: SIGNING_ALG, use: 'sig' };
    const stored: StoredKey = this.#sealKey
      ? { kid, sealed: seal(this.#sealKey, JSON.stringify(privateJwk)), publicJwk, createdAt: Date.now() / 1000 }
      : { kid, privateJwk, publicJwk, createdAt: Date.now() / 1000 };
    await this.#redis.hsetnx(this.#hash, kid, JSON.stringify(stored));
    return kid;
  }
}

async function load(stored: StoredKey, privateJwk: JWK): Promise<LoadedKey> {
  const { kty, n, e } = privateJwk;
  const publicJwk: JWK = { kty, n, e, kid: stored.kid, alg: SIGNING_ALG, use: 'sig' };
  return {
    stored,
    privateKey: (await importJWK(privateJwk, SIGNING_ALG)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey,
    publicJwk,
  };
}

function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function unseal(key: Buffer, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

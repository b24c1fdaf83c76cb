/**
 * The node's own SMART Backend Services key: what this node signs its client assertions with when
 * it calls an upstream EHR (Epic) or a peer MedRec node, and the public JWKS it publishes so those
 * servers can verify them. Epic only accepts keys fetched from a public JWKS URL, so the JWKS is
 * served by `nodeJwksPlugin` at `/.well-known/medrec-node-jwks.json` (distinct from the SMART
 * server's `/jwks`, which holds the keys that sign OUR access tokens).
 *
 * Sources, in order: an explicit PEM (PKCS#8) or private-JWK file; `MEDREC_NODE_KEY_FILE`; a key
 * generated once and persisted (mode 0600) in the data directory for the embedded demo.
 */
import { createPrivateKey, createPublicKey, randomUUID, type JsonWebKey as NodeJwk, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from 'jose';

export type NodeKeyAlgorithm = 'RS384' | 'ES384';
export const NODE_JWKS_PATH = '/.well-known/medrec-node-jwks.json';
const GENERATED_KEY_FILE = 'node-backend-services-key.jwk.json';

export interface NodeSigningKey {
  readonly kid: string;
  readonly alg: NodeKeyAlgorithm;
  readonly privateKey: CryptoKey;
  /** Public half only (`kty`, `n`/`e` or `crv`/`x`/`y`, `kid`, `alg`, `use: sig`). */
  readonly publicJwk: JWK;
}

export interface NodeKeyOptions {
  /** PEM (PKCS#8) or JSON private JWK. Falls back to `MEDREC_NODE_KEY_FILE`, then to a generated key. */
  readonly keyFile?: string;
  /** Needed for a PEM RSA key only when it should not be RS384; inferred otherwise. */
  readonly alg?: NodeKeyAlgorithm;
  /** Where a generated key is persisted. Without it (and without a file) loading fails. */
  readonly dataDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Loads (or for the embedded demo, creates once) the node's Backend Services signing key. */
export async function loadNodeKey(options: NodeKeyOptions = {}): Promise<NodeSigningKey> {
  const file = options.keyFile ?? (options.env ?? process.env).MEDREC_NODE_KEY_FILE;
  if (file) return importKeyFile(file, options.alg);
  if (!options.dataDir) throw new Error('node key: give a key file (MEDREC_NODE_KEY_FILE) or a data directory to keep a generated key in');
  const path = join(options.dataDir, GENERATED_KEY_FILE);
  try {
    return await importKeyFile(path, options.alg);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const alg = options.alg ?? 'RS384';
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 3072 });
  const jwk = { ...(await exportJWK(privateKey)), alg };
  mkdirSync(options.dataDir, { recursive: true });
  // Write-then-rename so a concurrent loader never reads half a key; the first rename wins the race
  // only in the sense that both keys are valid, and every later load reads the file that stayed.
  const temp = `${path}.${randomUUID()}.tmp`;
  writeFileSync(temp, JSON.stringify(jwk), { mode: 0o600 });
  renameSync(temp, path);
  return importKeyFile(path, alg);
}

async function importKeyFile(path: string, wantedAlg: NodeKeyAlgorithm | undefined): Promise<NodeSigningKey> {
  const text = readFileSync(path, 'utf8').trim();
  let keyObject: KeyObject;
  try {
    keyObject = text.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(text) as NodeJwk, format: 'jwk' })
      : createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new Error(`node key: ${path} is neither a private PEM nor a private JWK (${(error as Error).message})`);
  }
  const details = keyObject.asymmetricKeyDetails ?? {};
  let alg: NodeKeyAlgorithm;
  if (keyObject.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw new Error('node key: RSA keys must have at least 2048 bits');
    alg = 'RS384';
  } else if (keyObject.asymmetricKeyType === 'ec' && details.namedCurve === 'secp384r1') {
    alg = 'ES384';
  } else {
    throw new Error('node key: only RSA (RS384) and EC P-384 (ES384) keys are used for SMART Backend Services');
  }
  if (wantedAlg && wantedAlg !== alg) throw new Error(`node key: ${path} holds a key for ${alg}, not ${wantedAlg}`);
  const pkcs8 = keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  // The signing key stays non-extractable in memory; only its public half is ever exported.
  const privateKey = await importPKCS8(pkcs8, alg);
  const full = createPublicKey(keyObject).export({ format: 'jwk' }) as JWK;
  const publicOnly: JWK = full.kty === 'RSA' ? { kty: 'RSA', n: full.n, e: full.e } : { kty: 'EC', crv: full.crv, x: full.x, y: full.y };
  const kid = await calculateJwkThumbprint(publicOnly, 'sha256');
  return { kid, alg, privateKey, publicJwk: { ...publicOnly, kid, alg, use: 'sig' } };
}

/** The JWKS document for these keys (the current key first; keep a retired key here until caches expire). */
export function nodeJwks(keys: readonly NodeSigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => ({ ...key.publicJwk })) };
}

export interface NodeJwksPluginOptions {
  readonly keys: readonly NodeSigningKey[];
  /** Seconds relying parties may cache the set (Epic honours Cache-Control, up to 29 h). */
  readonly maxAgeSeconds?: number;
}

/** Serves the node's public Backend Services JWKS, unauthenticated, at `/.well-known/medrec-node-jwks.json`. */
export const nodeJwksPlugin: FastifyPluginAsync<NodeJwksPluginOptions> = async (app, options) => {
  const body = nodeJwks(options.keys);
  const cacheControl = `public, max-age=${options.maxAgeSeconds ?? 3600}`;
  app.get(NODE_JWKS_PATH, {
    schema: {
      response: {
        200: {
          type: 'object',
          required: ['keys'],
          properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: true } } },
        },
      },
    },
  }, async (_request, reply) => {
    reply.header('cache-control', cacheControl);
    return body;
  });
};

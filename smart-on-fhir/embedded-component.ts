/**
 * The SMART authorization server as a piece of `npm start`: connects to the process's Redis and
 * hands `buildApp` its options. Clients come from `MEDREC_SMART_CLIENTS` (a JSON file holding an
 * array of SmartClient) and, in the embedded demo, the demo's published example clients plus
 * one-click sign-in for the demo cast. It starts after the chain and authorization components:
 * names and roles (fhirUser, consent screen) and backend clients known only on chain come from
 * the participant directory; the patient picker and consent screen read permission snapshots
 * from the authorization's Redis indexes (the same ones its access policy uses).
 */
import { readFileSync } from 'node:fs';
import { JsonRpcProvider } from 'ethers';
import { Redis } from 'ioredis';
import { authzKeys } from '../server/authz/authz-keys.ts';
import { buildSnapshot } from '../server/authz/snapshot-builder.ts';
import { chainDirectory } from './chain-directory.ts';
import { jwksUrlAllowed } from './client-jwks.ts';
import type { EmbeddedComponent } from '../server/main.ts';
import type { SmartClient } from './clients.ts';
import { demoClients, demoSigners, describeDemoParticipant } from './demo-clients.ts';
import { PARTICIPANT_SOURCE_ID, ParticipantSource } from './participant-source.ts';

const TYPES = new Set(['public', 'confidential-symmetric', 'confidential-asymmetric', 'backend']);

/** Reads and checks a clients file; errors name the client and field. */
export function readSmartClients(path: string): SmartClient[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(parsed)) throw new Error(`${path}: expected a JSON array of SMART clients`);
  return parsed.map((raw: unknown, i) => {
    const c = raw as Partial<SmartClient>;
    const where = `${path}[${i}]`;
    if (typeof c.clientId !== 'string' || !c.clientId) throw new Error(`${where}: clientId is required`);
    if (typeof c.type !== 'string' || !TYPES.has(c.type)) throw new Error(`${where} (${c.clientId}): type must be one of ${[...TYPES].join(', ')}`);
    if (c.type !== 'backend' && (!Array.isArray(c.redirectUris) || c.redirectUris.length === 0)) throw new Error(`${where} (${c.clientId}): redirectUris are required`);
    if (c.type === 'confidential-symmetric' && !c.secret && !c.secretSha256) throw new Error(`${where} (${c.clientId}): secret or secretSha256 is required`);
    if ((c.type === 'confidential-asymmetric' || c.type === 'backend') && !c.jwks && !c.jwksUri) throw new Error(`${where} (${c.clientId}): jwks or jwksUri is required`);
    if (c.jwksUri !== undefined && !jwksUrlAllowed(c.jwksUri)) throw new Error(`${where} (${c.clientId}): jwksUri must be https (http only on a loopback host)`);
    if (c.type === 'backend' && !/^0x[0-9a-fA-F]{40}$/.test(c.address ?? '')) throw new Error(`${where} (${c.clientId}): backend clients need the participant address they act as`);
    return { ...c, name: c.name ?? c.clientId, redirectUris: c.redirectUris ?? [], ...(c.address ? { address: c.address.toLowerCase() } : {}) } as SmartClient;
  });
}

export const smartComponent: EmbeddedComponent = {
  name: 'smart',
  async start(ctx) {
    if (!ctx.redisUrl) throw new Error('the SMART authorization server needs Redis (REDIS_URL or the private redis-server)');
    const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });
    // Without MEDREC_PUBLIC_URL: the address the startup banner prints (issuer and aud must match what clients use).
    const host = ctx.config.host === '0.0.0.0' || ctx.config.host === '::' ? 'localhost' : ctx.config.host;
    const publicUrl = ctx.config.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${ctx.config.port}`;
    const file = process.env.MEDREC_SMART_CLIENTS;
    const clients = [...(ctx.demo ? demoClients(publicUrl) : []), ...(file ? readSmartClients(file) : [])];
    const chain = ctx.chain;
    const provider = chain ? new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true }) : undefined;
    const directory = chain && provider ? chainDirectory(provider, chain.contracts) : undefined;
    const keys = authzKeys();
    // Patients have no name on chain (PHI): the demo's pseudonyms fill in; roles come from the chain.
    const describeParticipant = async (address: string) => ({
      ...(ctx.demo ? await describeDemoParticipant(address) : {}),
      ...(directory ? await directory.describeParticipant(address).catch(() => undefined) : {}),
    });
    // Non-patients' fhirUser records (`Practitioner/directory.0x…`, `Person/directory.0x…`).
    if (ctx.sources.some((s) => s.sourceId === PARTICIPANT_SOURCE_ID)) throw new Error(`source id ${PARTICIPANT_SOURCE_ID} is reserved for the participant directory`);
    ctx.sources.push({
      sourceId: PARTICIPANT_SOURCE_ID,
      provider: (chain?.contracts.participantDirectory ?? PARTICIPANT_SOURCE_ID).toLowerCase(),
      name: 'Participant directory',
      adapter: new ParticipantSource(describeParticipant, chain?.chainId ?? 31337),
    });
    const sealing = process.env.MEDREC_SIGNING_KEY_SECRET ?? ctx.config.cursorSecret;
    ctx.deps = {
      ...ctx.deps,
      smart: {
        publicUrl,
        redis,
        clients,
        // Private signing keys are sealed in Redis under a key derived from the shared secret.
        ...(sealing ? { keySealingSecret: sealing } : {}),
        ...(chain ? { permissionSnapshot: async (subject: string) => (await buildSnapshot(redis, keys, subject)).snapshot } : {}),
        ...(directory ? { resolveParticipantClient: directory.resolveParticipantClient, listParticipantClients: directory.listParticipantClients } : {}),
        describeParticipant,
        ...(ctx.demo ? { demoSigners: demoSigners() } : {}),
      },
    };
    ctx.log.info({ clients: clients.map((c) => c.clientId), issuer: publicUrl }, 'SMART authorization server configured');
    return async () => {
      provider?.destroy();
      redis.disconnect();
    };
  },
};

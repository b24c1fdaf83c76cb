/**
 * Assembles the web apps' options from the running pieces: the SMART server (`app.smartAuth`),
 * the chain client, the audit trail, the sources and the node's link table. `server/app.ts` calls
 * `webAppsOptions(app)` after the SMART plugin is registered; the embedded demo adds the demo
 * keyring and the demo providers' keys.
 */
import type { FastifyInstance } from 'fastify';
import { Wallet, type Provider, type Signer } from 'ethers';
import type { SignedAction } from '../../contracts/eip712.ts';
import type { ConsentContract } from '../../contracts/bindings/Consent.ts';
import type { ParticipantDirectoryContract } from '../../contracts/bindings/ParticipantDirectory.ts';
import type { ProviderRegistryContract } from '../../contracts/bindings/ProviderRegistry.ts';
import type { RelationshipsContract } from '../../contracts/bindings/Relationships.ts';
import type { EhrAdapter } from '../../adapters/ehr-adapter.ts';
import { DEMO_CAST, demoAddress, demoLinkSalt, demoWallet } from '../embedded/demo-identities.ts';
import type { TypedData } from './shared/src/api-types.ts';
import { AuditAccessLog, auditSearchThroughFhir, type AuditSearchFn } from './desks/audit-access-log.ts';
import { ChainNotifications } from './desks/chain-notifications.ts';
import type { MedRecChain } from './desks/medrec-chain.ts';
import { ParticipantNames } from './desks/participant-names.ts';
import { ChainPatientDesk } from './desks/patient-desk.ts';
import { ChainProviderDesk, type LinkTable } from './desks/provider-desk.ts';
import { SmartAuthLauncher } from './desks/smart-launcher.ts';
import type { SmartAuth } from '../../smart-on-fhir/plugin.ts';
import { AdapterSourceStatus, type SourceCounters } from './desks/source-status.ts';
import { DEMO_SMART_APP_LAUNCH_PATH, type WebAppsOptions } from './web-apps.ts';

/** The chain client's shape the web apps use (contracts/client.ts `MedRecClient` fits). */
export interface WebChainClient {
  readonly provider: Provider;
  readonly registry: ProviderRegistryContract;
  readonly directory: ParticipantDirectoryContract;
  readonly relationships: RelationshipsContract;
  readonly consent: ConsentContract;
  readonly deployment: { readonly chainId: number; readonly fromBlock: number };
  relay(action: SignedAction): Promise<{ readonly hash: string; readonly blockNumber: number }>;
}

export interface WebWiring {
  readonly chain: WebChainClient;
  /** The node's private link table (the same instance the FHIR layer resolves patients with). */
  readonly links: LinkTable;
  readonly sources: () => ReadonlyArray<{ sourceId: string; provider: string; name: string; adapter: EhrAdapter; kind?: string }>;
  /** Default: the FHIR API's own `/fhir/AuditEvent` route, with the patient's token. */
  readonly auditSearch?: AuditSearchFn;
  readonly sourceCounters?: (sourceId: string) => Promise<SourceCounters | undefined>;
  /** Keys of the providers this node runs (lowercase address → signer). */
  readonly providerSigners?: ReadonlyMap<string, Signer>;
  readonly saltFor?: (provider: string, patient: string) => string;
  /** Embedded demo: one-click demo identities, demo signing, all demo providers' keys. */
  readonly demo?: boolean;
  /** The chain's RPC URL as browsers reach it (`MEDREC_WALLET_RPC_URL`), offered to wallets that do not know the chain. */
  readonly walletRpcUrl?: string;
  readonly onError?: (error: Error) => void;
}

export interface WebAppsHandle {
  readonly options: (app: FastifyInstance) => WebAppsOptions;
  close(): void;
}

/** The desks' view of a chain client. */
export function medrecChainOf(c: WebChainClient): MedRecChain {
  return {
    provider: c.provider,
    chainId: c.deployment.chainId,
    registry: c.registry,
    directory: c.directory,
    relationships: c.relationships,
    consent: c.consent,
    relay: (action) => c.relay(action),
  };
}

export function wireWebApps(wiring: WebWiring): WebAppsHandle {
  const c = wiring.chain;
  const chain = medrecChainOf(c);
  const demoProviders = DEMO_CAST.filter((i) => i.role === 'provider');
  const pseudonyms = new Map(wiring.demo ? DEMO_CAST.map((i) => [demoAddress(i.handle), i.displayName] as const) : []);
  const names = new ParticipantNames(chain, pseudonyms);
  const signers = new Map<string, Signer>(wiring.providerSigners ?? []);
  if (wiring.demo) {
    // Plain wallets (nonce read per transaction): the console waits for each of its transactions.
    for (const p of demoProviders) signers.set(demoAddress(p.handle), new Wallet(demoWallet(p.handle).privateKey, c.provider));
  }
  const saltFor = wiring.saltFor ?? ((provider: string, patient: string) => {
    const salt = wiring.demo ? demoLinkSalt(provider, patient) : undefined;
    if (salt === undefined) throw new Error('no link salt source configured for this provider');
    return salt;
  });
  const notifications = new ChainNotifications({ chain, names, fromBlock: c.deployment.fromBlock, ...(wiring.onError ? { onError: wiring.onError } : {}) });
  return {
    options: (app) => {
      if (!app.hasDecorator('smartAuth')) throw new Error('the web apps need the SMART plugin registered first (their sign-in)');
      const smart: SmartAuth = app.smartAuth;
      return {
        fhirBase: smart.endpoints.fhirBaseUrl,
        verifyToken: async (token) => {
          const claims = await smart.tokens.verify(token);
          return { subject: claims.sub, clientId: claims.client_id, scope: claims.scope };
        },
        patients: new ChainPatientDesk({ chain, names }),
        accessLog: new AuditAccessLog(wiring.auditSearch ?? auditSearchThroughFhir(app), names, (id) => wiring.sources().find((s) => s.sourceId === id)?.name),
        notifications,
        providers: new ChainProviderDesk({
          chain, names, signers, links: wiring.links, saltFor,
          sourcesOf: (provider) => wiring.sources().filter((s) => s.provider.toLowerCase() === provider).map((s) => s.sourceId),
        }),
        sources: new AdapterSourceStatus({ sources: wiring.sources, ...(wiring.sourceCounters ? { counters: wiring.sourceCounters } : {}) }),
        smart: new SmartAuthLauncher(smart, chain),
        wallet: {
          chainId: chain.chainId,
          chainName: wiring.demo ? 'MedRec demo chain' : 'MedRec',
          ...(wiring.walletRpcUrl ? { rpcUrl: wiring.walletRpcUrl } : {}),
        },
        ...(wiring.demo ? {
          demo: {
            smartAppClientId: demoSmartAppClient(smart),
            identities: DEMO_CAST.filter((i) => i.role !== 'operator').map((i) => ({ handle: i.handle, role: i.role, displayName: i.displayName, address: demoAddress(i.handle) })),
            signTypedData: async (address: string, typedData: TypedData) => {
              const identity = DEMO_CAST.find((i) => demoAddress(i.handle) === address && i.role !== 'operator');
              if (!identity) return undefined;
              const types = Object.fromEntries(Object.entries(typedData.types).filter(([k]) => k !== 'EIP712Domain')) as Record<string, Array<{ name: string; type: string }>>;
              return demoWallet(identity.handle).signTypedData(typedData.domain, types, typedData.message);
            },
          },
        } : {}),
      };
    },
    close: () => notifications.close(),
  };
}

/** The client registered with the demo SMART app's launch URL (smart-on-fhir/demo-clients.ts), if any. */
function demoSmartAppClient(smart: SmartAuth): string | undefined {
  const launchUrl = new URL(DEMO_SMART_APP_LAUNCH_PATH, smart.endpoints.fhirBaseUrl).toString();
  return smart.clients.configured().find((c) => c.launchUrl === launchUrl)?.clientId;
}

/**
 * Embedded demo: one-click SIWE sign-in for the demo provider organisations, so the provider
 * console can be tried with their published dev keys. Add these to the SMART server's
 * `demoSigners` next to the people's (smart-on-fhir/demo-clients.ts leaves organisations out).
 */
export function providerDemoSigners(): Array<{ handle: string; displayName: string; address: string; signMessage(message: string): Promise<string> }> {
  return DEMO_CAST.filter((i) => i.role === 'provider').map((i) => ({
    handle: i.handle,
    displayName: i.displayName,
    address: demoAddress(i.handle),
    signMessage: (message: string) => demoWallet(i.handle).signMessage(message),
  }));
}

/**
 * The web apps as a piece of `npm start` (after the SMART component): registers the two apps as
 * SMART public clients, adds one-click sign-in for the demo provider organisations, and extends
 * the built app with the patient app, the provider console and their routes.
 *
 * Keys: patients' actions are relayed with `MEDREC_RELAYER_KEY` (the demo operator's published key
 * in the embedded demo); the provider console acts for the provider whose key is
 * `MEDREC_PROVIDER_KEY` (every demo provider in the embedded demo). `MEDREC_WALLET_RPC_URL`, when
 * set, is the chain's RPC URL offered to browser wallets that do not know the chain yet.
 */
import { join } from 'node:path';
import { JsonRpcProvider, Wallet, type Signer } from 'ethers';
import { MedRecClient } from '../../contracts/client.ts';
import { keySigner } from '../../contracts/connection.ts';
import { deriveLinkSalt } from '../../contracts/link-commitment.ts';
import { demoWallet } from '../embedded/demo-identities.ts';
import type { EmbeddedComponent } from '../main.ts';
import { ConsoleLinks } from './desks/console-links.ts';
import { SourceCallCounts } from './desks/source-calls.ts';
import { webApps, webAppClients } from './web-apps.ts';
import { providerDemoSigners, wireWebApps } from './web-wiring.ts';

export const webComponent: EmbeddedComponent = {
  name: 'web',
  async start(ctx) {
    const chain = ctx.chain;
    const smart = ctx.deps.smart;
    if (!chain || !smart) {
      ctx.log.warn('web apps not started: they need the chain and the SMART authorization server');
      return;
    }
    ctx.deps = {
      ...ctx.deps,
      smart: {
        ...smart,
        clients: [...smart.clients, ...webAppClients(smart.publicUrl)],
        ...(ctx.demo ? { demoSigners: [...(smart.demoSigners ?? []), ...providerDemoSigners()] } : {}),
      },
    };
    const walletRpcUrl = process.env.MEDREC_WALLET_RPC_URL;
    if (walletRpcUrl !== undefined && !/^https?:\/\/\S+$/.test(walletRpcUrl)) {
      throw new Error(`MEDREC_WALLET_RPC_URL must be an http(s) URL, got "${walletRpcUrl.slice(0, 80)}"`);
    }
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchStallTime: 0, pollingInterval: 250 });
    const relayerKey = process.env.MEDREC_RELAYER_KEY ?? (ctx.demo ? demoWallet('operator').privateKey : undefined);
    const client = new MedRecClient({
      provider,
      deployment: { chainId: chain.chainId, addresses: chain.contracts, fromBlock: chain.fromBlock, deployer: '', sourceHash: '', deployedAt: '' },
      ...(relayerKey ? { relayer: keySigner(relayerKey, provider) } : {}),
    });
    const providerKey = process.env.MEDREC_PROVIDER_KEY;
    const providerSigners = new Map<string, Signer>();
    if (providerKey) {
      const wallet = new Wallet(providerKey, provider);
      providerSigners.set(wallet.address.toLowerCase(), wallet);
    }
    // The FHIR layer and the console's "link a patient" share one link table; the console's
    // changes to it are kept in the data dir, as the commitments it sends stay on chain.
    const links = new ConsoleLinks(ctx.links, join(ctx.config.dataDir, 'console-links.json'));
    const authzSalt = ctx.linkSaltOf;
    const linkSaltOf = authzSalt
      ? (provider: string, patient: string): string => {
          const salt = authzSalt(provider, patient);
          if (!salt) throw new Error('no link salt source configured for this provider');
          return salt;
        }
      : undefined;
    ctx.patientLinks = links.table;
    // The FHIR layer reports each call to a source; the console's Sources screen counts failures.
    const calls = new SourceCallCounts();
    ctx.sources = calls.instrument(ctx.sources);
    const kinds = new Map(ctx.sourceConfigs.map((s) => [s.id, s.kind]));
    const web = wireWebApps({
      chain: client,
      links,
      sources: () => ctx.sources.map((s) => ({ ...s, kind: kinds.get(s.sourceId) ?? 'source' })),
      sourceCounters: async (sourceId) => calls.counters(sourceId),
      providerSigners,
      // Commit with the salts authorization recomputes the links with, or they would not resolve.
      ...(linkSaltOf ? { saltFor: linkSaltOf } : providerKey ? { saltFor: (_provider: string, patient: string) => deriveLinkSalt(providerKey, patient) } : {}),
      demo: ctx.demo,
      ...(walletRpcUrl ? { walletRpcUrl } : {}),
      onError: (error) => ctx.log.warn({ err: error }, 'web notifications'),
    });
    ctx.appExtensions.push(async (app) => {
      await app.register(webApps, { ...web.options(app), build: 'stale' });
    });
    return async () => {
      web.close();
      provider.destroy();
    };
  },
};

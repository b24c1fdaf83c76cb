/**
 * This process as a provider node of the network, a piece of `npm start` placed after the chain
 * and before the sources:
 * - feed sources' record changes become the provider's on-chain `RecordsChanged` announcements
 *   (coalesced; addresses only), signed with the provider node key (`MEDREC_PROVIDER_KEY`; in the
 *   embedded demo each demo provider's published dev key);
 * - peer MedRec nodes used as upstream sources are found through the provider registry, and this
 *   node calls them as its own provider (`MEDREC_PROVIDER_KEY`'s address);
 * - the node's Backend Services public keys are published at `/.well-known/medrec-node-jwks.json`
 *   so upstreams (Epic) and peer nodes can verify its client assertions.
 */
import { JsonRpcProvider, type Signer } from 'ethers';
import { MedRecClient } from '../../contracts/client.ts';
import { connectProviderRegistry } from '../../contracts/bindings/ProviderRegistry.ts';
import { keySigner } from '../../contracts/connection.ts';
import { loadNodeKey, nodeJwksPlugin } from '../../adapters/fhir/node-keys.ts';
import { providerRegistryFhirBase } from '../../adapters/fhir/provider-fhir-base.ts';
import { DEMO_CAST, demoWallet } from '../embedded/demo-identities.ts';
import { InMemoryPatientLinks } from '../fhir/patient-links.ts';
import type { EmbeddedComponent } from '../main.ts';
import { RecordChangeAnnouncer } from '../notifications/record-change-announcer.ts';

export const providerNodeComponent: EmbeddedComponent = {
  name: 'provider-node',
  async start(ctx) {
    const nodeKey = await loadNodeKey({ dataDir: ctx.config.dataDir });
    ctx.appExtensions.push(async (app) => {
      await app.register(nodeJwksPlugin, { keys: [nodeKey] });
    });
    const chain = ctx.chain;
    if (!chain) return;

    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchStallTime: 0, pollingInterval: 250 });
    ctx.resolveProviderFhirBase = providerRegistryFhirBase(connectProviderRegistry(chain.contracts.providerRegistry, provider));

    const signers = new Map<string, Signer>();
    const providerKey = process.env.MEDREC_PROVIDER_KEY;
    if (providerKey) {
      const signer = keySigner(providerKey, provider);
      const address = (await signer.getAddress()).toLowerCase();
      signers.set(address, signer);
      // Who this node is when it calls a peer node (client_id there; its keys are our node JWKS).
      ctx.nodeProvider = address;
    } else if (ctx.demo) {
      for (const identity of DEMO_CAST.filter((i) => i.role === 'provider')) {
        const wallet = demoWallet(identity.handle);
        signers.set(wallet.address.toLowerCase(), keySigner(wallet.privateKey, provider));
      }
    }
    const providerOfSource = new Map(ctx.sourceConfigs.map((s) => [s.id, s.provider.toLowerCase()]));
    let fallbackLinks: InMemoryPatientLinks | undefined;
    const announcer = new RecordChangeAnnouncer({
      client: new MedRecClient({
        provider,
        deployment: { chainId: chain.chainId, addresses: chain.contracts, fromBlock: chain.fromBlock, deployer: '', sourceHash: '', deployedAt: '' },
      }),
      // The link table is final only once authorization has verified it; look it up at call time.
      patientOf: (sourceId, localId) =>
        (ctx.patientLinks ?? (fallbackLinks ??= new InMemoryPatientLinks(ctx.links))).patientOf(sourceId, localId),
      signerFor: (sourceId) => signers.get(providerOfSource.get(sourceId) ?? ''),
      log: ctx.log,
    });
    ctx.recordsChanged = announcer.recordsChanged;
    return async () => {
      await announcer.close();
      provider.destroy();
    };
  },
};

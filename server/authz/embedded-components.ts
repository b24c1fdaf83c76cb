/**
 * The start-up components of chain-backed authorization for `server/main.ts`:
 * - `chainComponent`: the consent chain. With `MEDREC_DEPLOYMENT` (a deployment file written by
 *   the `medrec` CLI, with its `rpcUrl`, or `CHAIN_RPC_URL`) it follows that network; otherwise
 *   the embedded anvil chain with the demo network deployed and seeded, in the data dir.
 *   `CHAIN_WS_URL` (or the embedded chain's own WebSocket) only wakes the follower early.
 * - `authorizationComponent`: verifies the link table against the on-chain commitments (and
 *   keeps the app's links to those whose current rows reproduce them), starts
 *   the follower, reconcile, snapshot and audit workers and the chain-backed policy, and adds
 *   `/metrics` and `/fhir/AuditEvent` to the app.
 */
import type { FastifyInstance } from 'fastify';
import { deriveLinkSalt } from '../../contracts/link-commitment.ts';
import { checkDeployment, loadDeployment } from '../../contracts/deployment.ts';
import { connectChain } from '../../contracts/connection.ts';
import type { EmbeddedComponent, StartContext } from '../main.ts';
import { startEmbeddedChain } from '../embedded/chain.ts';
import { demoLinkSalt } from '../embedded/demo-identities.ts';
import { auditRoutes } from '../audit/audit-routes.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { metricsPlugin } from '../metrics/metrics-plugin.ts';
import { startAuthorization } from './authorization.ts';
import { JsonRpcProvider, Wallet } from 'ethers';
import { chainCommitments, linkGroup, verifyPatientLinks } from './link-verification.ts';

export const chainComponent: EmbeddedComponent = {
  name: 'chain',
  async start(ctx: StartContext) {
    const { deploymentFile } = ctx.config.chain;
    if (deploymentFile) {
      const deployment = loadDeployment(deploymentFile);
      const rpcUrl = ctx.config.chain.rpcUrl ?? deployment.rpcUrl;
      if (!rpcUrl) throw new Error('MEDREC_DEPLOYMENT has no rpcUrl: set CHAIN_RPC_URL');
      // The chain must be the deployment's (chain id) and hold its contracts (code at each
      // address): otherwise the follower would read another network's logs, or none, as consent.
      const { provider } = await connectChain({ rpcUrl, chainId: deployment.chainId });
      try {
        await checkDeployment(provider, deployment);
      } finally {
        provider.destroy();
      }
      ctx.chain = { rpcUrl, chainId: deployment.chainId, contracts: deployment.addresses, fromBlock: deployment.fromBlock };
      return;
    }
    const chain = await startEmbeddedChain({ dataDir: `${ctx.config.dataDir}/chain`, seed: ctx.demo });
    ctx.chain = { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contracts: chain.addresses, fromBlock: chain.deployment.fromBlock };
    ctx.log.info({ rpcUrl: chain.rpcUrl, contracts: chain.addresses }, 'embedded consent chain (anvil) started');
    return () => chain.stop();
  },
};

export const authorizationComponent: EmbeddedComponent = {
  name: 'authorization',
  async start(ctx: StartContext) {
    const chain = ctx.chain;
    if (!chain || !ctx.redisUrl) throw new Error('authorization needs the chain and Redis components first');
    const providerOf = new Map(ctx.sourceConfigs.map((s) => [s.id, s.provider.toLowerCase()]));

    // Every link is checked against its provider's on-chain commitment, in every mode. Salts come
    // from the sources file's link rows, a provider key the salts derive from, or the demo keys.
    const rowSalts = new Map(ctx.links.flatMap((l) => (l.salt ? [[linkGroup(providerOf.get(l.sourceId) ?? '', l.patient), l.salt] as const] : [])));
    const providerKey = process.env.MEDREC_PROVIDER_KEY;
    const keyOwner = providerKey ? new Wallet(providerKey).address.toLowerCase() : undefined;
    const saltOf = (provider: string, patient: string): string | undefined =>
      rowSalts.get(linkGroup(provider, patient)) ??
      (providerKey && provider === keyOwner ? deriveLinkSalt(providerKey, patient) : undefined) ??
      (ctx.demo ? demoLinkSalt(provider, patient) : undefined);
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchStallTime: 0 });
    try {
      const verification = await verifyPatientLinks(ctx.links, {
        providerOfSource: (id) => providerOf.get(id),
        saltOf,
        commitmentOf: chainCommitments(provider, chain.contracts.relationships),
      });
      const { rejected } = verification;
      if (rejected.length > 0) {
        ctx.log.warn({ rejected: rejected.map((r) => ({ provider: r.provider, reason: r.reason })) }, 'patient links not vouched for on chain are not used');
      }
      ctx.links = verification.verified;
    } finally {
      provider.destroy();
    }

    const metrics = createMetrics();
    // New-block announcements wake the follower early: anvil serves WebSocket on its HTTP port.
    const wsUrl = ctx.config.chain.wsUrl ?? (ctx.config.chain.deploymentFile ? undefined : chain.rpcUrl.replace(/^http/, 'ws'));
    const authz = await startAuthorization({
      redisUrl: ctx.redisUrl,
      chain: { ...chain, confirmations: ctx.config.authz.confirmations, ...(wsUrl ? { wsUrl } : {}) },
      sources: () => ctx.sources,
      metrics,
      log: ctx.log,
      freshness: { maxLagBlocks: ctx.config.authz.maxLagBlocks, maxHeadAgeMs: ctx.config.authz.maxHeadAgeMs },
    });
    // The app resolves patients only through links whose current rows reproduce the commitment
    // their relationship holds on chain; the console commits with the same salts.
    ctx.vouchLinks = (links) => authz.vouchLinks(links, { providerOfSource: (id) => providerOf.get(id), saltOf });
    ctx.linkSaltOf = saltOf;
    ctx.deps = {
      ...ctx.deps,
      accessPolicy: authz.policy,
      readinessChecks: [
      ...(ctx.deps.readinessChecks ?? []),
      {
        name: 'permissions',
        async check() {
          const v = authz.freshness.verdict();
          const s = authz.freshness.state();
          return {
            status: v.fresh ? 'up' : 'down',
            detail: v.fresh ? `synced to block ${s.cursor} of ${s.head}` : v.detail,
            checkedAt: new Date().toISOString(),
          };
        },
      },
      ],
    };
    ctx.appExtensions.push(async (app: FastifyInstance) => {
      await app.register(metricsPlugin, { metrics });
      await app.register(auditRoutes, {
        prefix: '/fhir',
        trail: authz.audit,
        snapshots: authz.snapshots,
        freshness: authz.freshness,
        contextOf: (request) => request.accessContext,
      });
    });
    return () => authz.close();
  },
};

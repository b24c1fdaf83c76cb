/**
 * Following an existing network: the chain must be the deployment's. The server checks the
 * chain id and the contracts' code at start and refuses a chain URL without a deployment,
 * instead of silently following nothing (or another network) as consent.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../server/config/config.ts';
import { chainComponent } from '../../server/authz/embedded-components.ts';
import { startAnvil, startEmbeddedChain } from '../../server/embedded/chain.ts';
import type { StartContext } from '../../server/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'medrec-chain-settings-'));
const contextFor = (env: Record<string, string>): StartContext => ({
  config: loadConfig({ MEDREC_DATA_DIR: dir, ...env }),
  log: pino({ level: 'silent' }),
  demo: false,
  sourceConfigs: [],
  links: [],
  sources: [],
  deps: {},
  appExtensions: [],
});

t.test('CHAIN_RPC_URL without MEDREC_DEPLOYMENT is refused: one line, exit code 2', async (t) => {
  const err = (() => {
    try {
      loadConfig({ CHAIN_RPC_URL: 'http://127.0.0.1:8545' });
    } catch (e) {
      return e as ConfigError;
    }
  })();
  t.same(err?.problems, ['CHAIN_RPC_URL: set MEDREC_DEPLOYMENT too (the deployment file naming the contracts on that chain)']);
  const child = spawn(process.execPath, ['server/main.ts'], { env: { ...process.env, CHAIN_RPC_URL: 'http://127.0.0.1:8545', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  t.equal(await new Promise((resolve) => child.once('exit', resolve)), 2);
  t.match(stderr, /CHAIN_RPC_URL: set MEDREC_DEPLOYMENT too/);
});

t.test('the deployment is followed only on its own chain, with its contracts there', async (t) => {
  const network = await startEmbeddedChain({ dataDir: join(dir, 'network'), seed: false, blockTime: 0 });
  t.teardown(() => network.stop());
  const other = await startAnvil({ chainId: 4242 });
  t.teardown(() => other.stop());
  const deploymentFile = join(dir, 'network', 'deployment.json');

  const ok = contextFor({ MEDREC_DEPLOYMENT: deploymentFile });
  await chainComponent.start(ok);
  t.match(ok.chain, { rpcUrl: network.rpcUrl, chainId: network.chainId, contracts: network.addresses }, 'the right chain: followed');

  const wrongChain = contextFor({ MEDREC_DEPLOYMENT: deploymentFile, CHAIN_RPC_URL: other.rpcUrl });
  await t.rejects(chainComponent.start(wrongChain), /chain id mismatch: configured 1337, the node at the RPC URL reports 4242/);

  const noCode = join(dir, 'no-code.json');
  writeFileSync(noCode, JSON.stringify({ ...JSON.parse(readFileSync(deploymentFile, 'utf8')), chainId: 4242, rpcUrl: other.rpcUrl }));
  await t.rejects(chainComponent.start(contextFor({ MEDREC_DEPLOYMENT: noCode })), new RegExp(`no providerRegistry contract at ${network.addresses.providerRegistry}`));
});

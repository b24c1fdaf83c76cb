/**
 * The embedded chain: when no chain URL is configured, an `anvil` child process (from the
 * @foundry-rs/anvil package) on a free loopback port, the MedRec contracts deployed and the demo
 * network seeded through the same client an operator's `medrec` CLI uses. Every transaction is
 * signed locally (Wallet + eth_sendRawTransaction); anvil's unlocked accounts are never used.
 *
 * Setup runs with automine (each transaction mined at once, so seeding takes well under a
 * second); afterwards the chain switches to interval mining (a block every `blockTime` seconds)
 * so it behaves like the providers' QBFT chain. With `dataDir`, anvil keeps its state there and a
 * restart reuses the deployment instead of deploying again.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HDNodeWallet, Mnemonic, type JsonRpcProvider } from 'ethers';
import { MedRecClient } from '../../contracts/client.ts';
import { connectChain, jsonRpc, keySigner, rpcEndpoint } from '../../contracts/connection.ts';
import { seedDemoNetwork, type DemoParticipant, type DemoSeedOptions, type DemoSeedResult } from '../../contracts/demo-seed.ts';
import {
  checkDeployment,
  deployMedRec,
  loadDeployment,
  saveDeployment,
  type Deployment,
  type FoundingProvider,
  type MedRecAddresses,
} from '../../contracts/deployment.ts';
import { DEMO_CAST, DEMO_MNEMONIC, demoWallet } from './demo-identities.ts';
import { DEMO_PATIENT_LINKS } from './demo-links.ts';

/** The demo seed itself lives with the contracts (it is operator code); re-exported for the server. */
export { seedDemoNetwork, type DemoSeedResult } from '../../contracts/demo-seed.ts';

const ANVIL = fileURLToPath(new URL('../../node_modules/.bin/anvil', import.meta.url));
export const EMBEDDED_CHAIN_ID = 1337;

export interface AnvilOptions {
  readonly port?: number;
  /** Seconds between blocks; 0 or absent = automine (a block per transaction). */
  readonly blockTime?: number;
  /** anvil `--state` file: loaded at start, written periodically and at exit. */
  readonly stateFile?: string;
  readonly chainId?: number;
}

export interface Anvil {
  readonly rpcUrl: string;
  readonly port: number;
  readonly chainId: number;
  /** Raw JSON-RPC call (for anvil's own methods: evm_snapshot, evm_increaseTime, ...). */
  rpc<T = unknown>(method: string, params?: readonly unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts anvil on loopback and waits until it answers JSON-RPC. Without a fixed port anvil binds
 * port 0 and we read the port it got from its "Listening on" line: no probe-then-bind race
 * between parallel test files, and the anvil that answers is certainly ours.
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  if (!existsSync(ANVIL)) throw new Error(`anvil not found at ${ANVIL} (npm install @foundry-rs/anvil)`);
  const chainId = options.chainId ?? EMBEDDED_CHAIN_ID;
  // Not --silent: that would hide the "Listening on" line. Its output (dev keys, one line per
  // request) is read and dropped.
  const args = ['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--chain-id', String(chainId), '--mnemonic', DEMO_MNEMONIC];
  if (options.blockTime) args.push('--block-time', String(options.blockTime));
  if (options.stateFile) args.push('--state', options.stateFile, '--state-interval', '5');
  const child = spawn(ANVIL, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let exited = false;
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', (error) => ((exited = true), (stderr += error.message)));
  const port = await new Promise<number>((resolve, reject) => {
    let banner = '';
    const onData = (chunk: Buffer): void => {
      banner = (banner + chunk.toString('utf8')).slice(-4000);
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(banner);
      if (m) {
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining, discard
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    void exit.then(() => reject(new Error(`anvil exited at start: ${stderr.trim() || 'no output'}`)));
  });

  const rpcUrl = `http://127.0.0.1:${port}`;
  const endpoint = rpcEndpoint(rpcUrl);
  const rpc = <T>(method: string, params: readonly unknown[] = [], timeoutMs = 30_000): Promise<T> => jsonRpc<T>(endpoint, method, params, timeoutMs);

  for (let attempt = 0; ; attempt++) {
    if (exited) throw new Error(`anvil exited at start: ${stderr.trim() || 'no output'}`);
    try {
      await rpc('eth_chainId', [], 1000);
      break;
    } catch {
      if (attempt > 500) {
        child.kill('SIGKILL');
        throw new Error(`anvil did not answer on port ${port}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  return {
    rpcUrl,
    port,
    chainId,
    rpc,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM'); // anvil writes its --state file on a graceful exit
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

// ------------------------------------------------------------------ demo cast

/** A provider's demo chain-node key: same mnemonic, account 1 (distinct from its own key). */
export function demoNodeAddress(handle: string): string {
  const identity = DEMO_CAST.find((i) => i.handle === handle);
  if (!identity) throw new Error(`unknown demo identity: ${handle}`);
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEMO_MNEMONIC), `m/44'/60'/1'/0/${identity.index}`).address;
}

/** The providers the demo network is deployed with; `hl7-hospital` joins later by vote. */
export const DEMO_FOUNDERS = ['hospital', 'clinic', 'pharmacy-records', 'openmrs-clinic'] as const;
export const DEMO_VOTED_IN = ['hl7-hospital'] as const;

export function demoFounders(fhirBaseUrl: (handle: string) => string = () => ''): FoundingProvider[] {
  return DEMO_FOUNDERS.map((handle) => {
    const identity = DEMO_CAST.find((i) => i.handle === handle);
    return { account: demoWallet(handle).address, name: identity?.displayName ?? handle, fhirBaseUrl: fhirBaseUrl(handle), node: demoNodeAddress(handle) };
  });
}

/** The demo cast with signers on `provider` (operator and providers track nonces locally). */
export function demoParticipants(provider: JsonRpcProvider): DemoParticipant[] {
  return DEMO_CAST.map((identity) => {
    const wallet = demoWallet(identity.handle);
    const signer = identity.role === 'patient' ? wallet.connect(provider) : keySigner(wallet.privateKey, provider);
    return {
      handle: identity.handle,
      role: identity.role,
      displayName: identity.displayName,
      signer,
      address: wallet.address,
      ...(identity.role === 'provider' ? { saltSecret: wallet.privateKey, node: demoNodeAddress(identity.handle) } : {}),
    };
  });
}

// ------------------------------------------------------------- embedded chain

export interface EmbeddedChainOptions {
  /** Keeps anvil's state and the deployment here, so a restart finds the same network. */
  readonly dataDir?: string;
  readonly port?: number;
  /** Seconds between blocks after setup (default 1); 0 keeps automine (tests). */
  readonly blockTime?: number;
  /** Seed the demo network (default true). */
  readonly seed?: boolean;
  /** Patient links to commit (default: server/embedded/demo-links.ts). */
  readonly links?: DemoSeedOptions['links'];
  /** Which demo provider holds each source's records (default: the handle equal to the source id). */
  readonly providerOfSource?: (sourceId: string) => string | undefined;
  readonly fhirBaseUrl?: (handle: string) => string;
  readonly jwksUrl?: (handle: string) => string;
}

export interface EmbeddedChain {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly addresses: MedRecAddresses;
  readonly deployment: Deployment;
  readonly provider: JsonRpcProvider;
  /** A client whose relayer is the demo operator. */
  readonly client: MedRecClient;
  /** The demo seed (links with salts, grant ids, ...): from this start or from the data dir. */
  readonly seed: DemoSeedResult | undefined;
  readonly anvil: Anvil;
  stop(): Promise<void>;
}

const defaultProviderOfSource = (sourceId: string): string | undefined =>
  DEMO_CAST.some((i) => i.handle === sourceId && i.role === 'provider') ? sourceId : undefined;

export async function startEmbeddedChain(options: EmbeddedChainOptions = {}): Promise<EmbeddedChain> {
  const stateFile = options.dataDir ? join(options.dataDir, 'anvil-state.json') : undefined;
  const deploymentFile = options.dataDir ? join(options.dataDir, 'deployment.json') : undefined;
  const seedFile = options.dataDir ? join(options.dataDir, 'demo-seed.json') : undefined;
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const anvil = await startAnvil({ port: options.port, stateFile });
  try {
    const { provider } = await connectChain({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, pollingInterval: 100 });
    const cast = demoParticipants(provider);
    const operator = cast.find((c) => c.handle === 'operator');
    if (!operator) throw new Error('demo cast has no operator');

    let deployment: Deployment | undefined;
    let seed: DemoSeedResult | undefined;
    if (deploymentFile && existsSync(deploymentFile)) {
      const saved = loadDeployment(deploymentFile);
      try {
        await checkDeployment(provider, saved);
        const savedSeed = seedFile && existsSync(seedFile) ? readSeed(seedFile) : undefined;
        // Reuse only a network whose seed (if one is wanted) completed and reached the state file;
        // a start that died half-way through seeding leaves nothing to build on.
        if (options.seed === false) deployment = saved;
        else if (savedSeed && (await seedLanded(provider, savedSeed))) {
          deployment = saved;
          seed = savedSeed;
        }
      } catch {
        deployment = undefined; // state file lost or from another chain: deploy afresh
      }
    }
    if (!deployment) deployment = await deployMedRec(operator.signer, demoFounders(options.fhirBaseUrl));
    // The file also tells the `medrec` CLI where this run's chain answers.
    if (deploymentFile) saveDeployment(deploymentFile, { ...deployment, rpcUrl: anvil.rpcUrl });
    const client = new MedRecClient({ provider, deployment, relayer: operator.signer });
    if (!seed && options.seed !== false) {
      seed = await seedDemoNetwork({
        client,
        cast,
        links: options.links ?? DEMO_PATIENT_LINKS,
        providerOfSource: options.providerOfSource ?? defaultProviderOfSource,
        votedIn: DEMO_VOTED_IN,
        fhirBaseUrl: options.fhirBaseUrl,
        jwksUrl: options.jwksUrl,
      });
      if (seedFile) writeSeed(seedFile, seed);
    }
    const blockTime = options.blockTime ?? 1;
    if (blockTime > 0) await anvil.rpc('evm_setIntervalMining', [blockTime]);

    return {
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      addresses: deployment.addresses,
      deployment,
      provider,
      client,
      seed,
      anvil,
      stop: async () => {
        provider.destroy();
        await anvil.stop();
      },
    };
  } catch (error) {
    await anvil.stop();
    throw error;
  }
}

/** Whether every transaction of a saved seed is in the chain's (reloaded) state. */
async function seedLanded(provider: JsonRpcProvider, seed: DemoSeedResult): Promise<boolean> {
  const receipts = await Promise.all(seed.transactions.map((hash) => provider.getTransactionReceipt(hash)));
  return receipts.every((r) => r?.status === 1);
}

// The seed result holds bigints; JSON keeps them as decimal strings.
function writeSeed(file: string, seed: DemoSeedResult): void {
  writeFileSync(file, JSON.stringify(seed, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
}

function readSeed(file: string): DemoSeedResult {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as {
    links: DemoSeedResult['links'];
    grants: Record<string, string>;
    studyId: string;
    requestId: string;
    transactions: string[];
  };
  return {
    links: raw.links,
    grants: Object.fromEntries(Object.entries(raw.grants).map(([k, v]) => [k, BigInt(v)])),
    studyId: BigInt(raw.studyId),
    requestId: BigInt(raw.requestId),
    transactions: raw.transactions,
  };
}

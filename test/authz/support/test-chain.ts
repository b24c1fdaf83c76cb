/**
 * A real anvil node with the MedRec contracts deployed, for the authorization tests and benches.
 * `stop()` + `restart()` keep the chain (anvil `--state` file), as a node that goes away and
 * comes back would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Contract, ContractFactory, JsonRpcProvider, NonceManager, Wallet, type InterfaceAbi } from 'ethers';
import { loadArtifact, type ContractName } from '../../../contracts/build.ts';
import { freePort } from '../../../server/util/free-port.ts';
import { DEMO_MNEMONIC, demoAddress, demoWallet } from '../../../server/embedded/demo-identities.ts';
import type { MedrecContracts } from '../../../server/authz/contract-events.ts';

export interface TestChain {
  readonly url: string;
  readonly port: number;
  readonly provider: JsonRpcProvider;
  readonly contracts: MedrecContracts;
  readonly deployBlock: number;
  /** A contract connected to a demo identity's wallet (nonce-managed, one per handle). */
  as(handle: string, name: ContractName): Contract;
  /** Sends a transaction as a demo identity and waits for its block; returns the block number. */
  send(handle: string, name: ContractName, fn: string, ...args: unknown[]): Promise<number>;
  /** Calls a view function. */
  call<T = unknown>(name: ContractName, fn: string, ...args: unknown[]): Promise<T>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface TestChainOptions {
  /** Seconds between blocks; automine (a block per transaction) when absent. */
  readonly blockTime?: number;
  /** Founding providers (demo handles). */
  readonly providers?: readonly string[];
  /** More anvil flags (benches: `--auto-impersonate`, `--gas-limit`). */
  readonly extraArgs?: readonly string[];
}

export async function startTestChain(options: TestChainOptions = {}): Promise<TestChain> {
  const port = await freePort();
  const stateFile = join(mkdtempSync(join(tmpdir(), 'medrec-anvil-')), 'state.json');
  const args = ['--port', String(port), '--host', '127.0.0.1', '--silent', '--mnemonic', DEMO_MNEMONIC, '--accounts', '30', '--state', stateFile];
  if (options.blockTime) args.push('--block-time', String(options.blockTime));
  args.push(...(options.extraArgs ?? []));
  let child: ChildProcess | undefined = await launch(args, port);
  const url = `http://127.0.0.1:${port}`;
  const provider = new JsonRpcProvider(url, 31337, { staticNetwork: true, batchStallTime: 0, pollingInterval: 100, cacheTimeout: -1 });

  const signers = new Map<string, NonceManager>();
  const signer = (handle: string) => {
    let s = signers.get(handle);
    if (!s) {
      s = new NonceManager(new Wallet(demoWallet(handle).privateKey, provider));
      signers.set(handle, s);
    }
    return s;
  };
  const operator = signer('operator');
  const deploy = async (name: ContractName, ...ctorArgs: unknown[]) => {
    const artifact = loadArtifact(name);
    const factory = new ContractFactory(artifact.abi as unknown as InterfaceAbi, artifact.bytecode, operator);
    const c = await factory.deploy(...ctorArgs);
    await c.waitForDeployment();
    return c.getAddress();
  };
  const founding = (options.providers ?? ['hospital', 'clinic', 'pharmacy-records']).map((h) => ({
    account: demoAddress(h),
    name: h,
    fhirBaseUrl: `https://${h}.example/fhir`,
    node: demoAddress(h),
  }));
  const providerRegistry = await deploy('ProviderRegistry', founding);
  const participantDirectory = await deploy('ParticipantDirectory');
  const relationships = await deploy('Relationships', providerRegistry);
  const consent = await deploy('Consent');
  const contracts: MedrecContracts = { providerRegistry, participantDirectory, relationships, consent };
  const addressOf: Record<ContractName, string> = {
    ProviderRegistry: providerRegistry,
    ParticipantDirectory: participantDirectory,
    Relationships: relationships,
    Consent: consent,
  };
  const deployBlock = 1;

  return {
    url,
    port,
    provider,
    contracts,
    deployBlock,
    as: (handle, name) => new Contract(addressOf[name], loadArtifact(name).abi as unknown as InterfaceAbi, signer(handle)),
    async send(handle, name, fn, ...args) {
      const c = new Contract(addressOf[name], loadArtifact(name).abi as unknown as InterfaceAbi, signer(handle));
      const tx = await c.getFunction(fn).send(...args);
      const receipt = await tx.wait();
      if (!receipt) throw new Error(`${fn}: no receipt`);
      return receipt.blockNumber;
    },
    async call<T>(name: ContractName, fn: string, ...args: unknown[]) {
      const c = new Contract(addressOf[name], loadArtifact(name).abi as unknown as InterfaceAbi, provider);
      return (await c.getFunction(fn).staticCall(...args)) as T;
    },
    async stop() {
      await terminate(child);
      child = undefined;
    },
    async restart() {
      if (!child) child = await launch(args, port);
      for (const s of signers.values()) s.reset();
    },
    async close() {
      provider.destroy();
      await terminate(child);
      child = undefined;
    },
  };
}

async function launch(args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(join(process.cwd(), 'node_modules/.bin/anvil'), args, { stdio: 'ignore' });
  for (let i = 0; i < 400; i++) {
    if (await accepts(port)) return child;
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error('anvil did not start');
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Terms of a grant in the contract's encoding. */
export function terms(t: {
  providers?: string[];
  resourceTypes?: string[];
  actions?: number;
  purpose?: number;
  notBefore?: number;
  expiresAt?: number;
}) {
  return {
    providers: t.providers ?? [],
    resourceTypes: t.resourceTypes ?? [],
    actions: t.actions ?? 3,
    purpose: t.purpose ?? 0,
    notBefore: t.notBefore ?? 0,
    expiresAt: t.expiresAt ?? 0,
  };
}

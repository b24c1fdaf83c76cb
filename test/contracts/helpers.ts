/**
 * One anvil per test file (automine: each transaction mined at once), wallets derived from the
 * published dev mnemonic at indices no demo identity uses, and a fresh deployment on demand.
 */
import type { Test } from 'tap';
import { HDNodeWallet, Mnemonic, parseEther, toBeHex, type JsonRpcProvider, type Wallet } from 'ethers';
import { MedRecClient, toMedRecError, type SubmitMode } from '../../contracts/client.ts';
import { connectChain } from '../../contracts/connection.ts';
import { deployMedRec, type Deployment } from '../../contracts/deployment.ts';
import { DEMO_MNEMONIC } from '../../server/embedded/demo-identities.ts';
import { startAnvil, type Anvil } from '../../server/embedded/chain.ts';

const mnemonic = Mnemonic.fromPhrase(DEMO_MNEMONIC);

export interface TestChain {
  readonly anvil: Anvil;
  readonly provider: JsonRpcProvider;
  readonly chainId: bigint;
  /** Funded deployer/relayer. */
  readonly operator: HDNodeWallet;
  /** A fresh wallet on the chain; `funded` gives it 100 ether. */
  wallet(options?: { funded?: boolean }): Promise<HDNodeWallet>;
  /** Deploys the contracts with these founding providers; client relayer = operator. */
  deploy(founders: readonly Wallet[] | readonly HDNodeWallet[], mode?: SubmitMode): Promise<{ deployment: Deployment; client: MedRecClient }>;
  /** Moves chain time forward and mines a block. */
  increaseTime(seconds: number): Promise<void>;
  now(): Promise<number>;
}

let nextIndex = 1000;

export async function testChain(t: Test): Promise<TestChain> {
  const anvil = await startAnvil();
  const { provider, chainId } = await connectChain({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, pollingInterval: 20 });
  t.teardown(async () => {
    provider.destroy();
    await anvil.stop();
  });
  const derive = (index: number): HDNodeWallet =>
    HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${index}`).connect(provider);
  const operator = derive(0);
  const fund = (address: string): Promise<unknown> => anvil.rpc('anvil_setBalance', [address, toBeHex(parseEther('100'))]);
  return {
    anvil,
    provider,
    chainId,
    operator,
    async wallet(options = {}) {
      const wallet = derive(nextIndex++);
      if (options.funded) await fund(wallet.address);
      return wallet;
    },
    async deploy(founders, mode = 'auto') {
      const deployment = await deployMedRec(
        operator,
        founders.map((f, i) => ({ account: f.address, name: `Provider ${i + 1}`, fhirBaseUrl: `https://p${i + 1}.example/fhir`, node: nodeOf(f.address) })),
      );
      return { deployment, client: new MedRecClient({ provider, deployment, relayer: operator, mode }) };
    },
    async increaseTime(seconds) {
      await anvil.rpc('evm_increaseTime', [seconds]);
      await anvil.rpc('evm_mine');
    },
    async now() {
      return (await provider.getBlock('latest'))?.timestamp ?? 0;
    },
  };
}

/** A deterministic, distinct node address for a provider account (tests only). */
export function nodeOf(account: string): string {
  return `0x${account.slice(2, 10)}${'0'.repeat(24)}${account.slice(-8)}`.toLowerCase();
}

/** Expects a promise to fail with the contract's custom error `name`. */
export async function rejectsWith(t: Test, promise: Promise<unknown>, name: string, message?: string): Promise<void> {
  try {
    await promise;
    t.fail(message ?? `expected ${name}`);
  } catch (error) {
    const described = toMedRecError(error);
    t.equal(described.errorName, name, message ?? `fails with ${name}: ${described.message}`);
  }
}

export const ALL = { providers: [], resourceTypes: [], actions: 3, purpose: 0, notBefore: 0, expiresAt: 0 } as const;

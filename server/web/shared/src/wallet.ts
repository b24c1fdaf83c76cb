/**
 * The patient's signer for EIP-712 actions, as an EIP-1193 provider: a browser wallet
 * (`window.ethereum`), or, in the embedded demo only, the published dev key of the signed-in demo
 * identity, which the server holds and uses only for that identity (labelled as such in the UI).
 */
import { ActionError, api } from './api.ts';
import type { TypedData, WalletChainView } from './api-types.ts';

export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

declare global {
  interface Window { ethereum?: Eip1193Provider }
}

export interface Signer {
  readonly label: string;
  readonly demo: boolean;
  signTypedData(address: string, typedData: TypedData): Promise<string>;
}

/** Adds EIP712Domain to `types` as eth_signTypedData_v4 expects it. */
function withDomainType(typedData: TypedData): TypedData {
  if (typedData.types.EIP712Domain) return typedData;
  const fields: Array<{ name: string; type: string }> = [];
  const d = typedData.domain;
  if ('name' in d) fields.push({ name: 'name', type: 'string' });
  if ('version' in d) fields.push({ name: 'version', type: 'string' });
  if ('chainId' in d) fields.push({ name: 'chainId', type: 'uint256' });
  if ('verifyingContract' in d) fields.push({ name: 'verifyingContract', type: 'address' });
  return { ...typedData, types: { EIP712Domain: fields, ...typedData.types } };
}

const hex = (n: number) => `0x${n.toString(16)}`;
const codeOf = (error: unknown) => (error as { code?: number } | undefined)?.code;

/**
 * Puts the wallet on the chain the message is for, as wallets require before signing typed data
 * whose domain names a chain: switch (EIP-3326), or add it first when the wallet does not know it
 * (EIP-3085, only with an RPC URL the operator published), and say what to do when that fails.
 */
async function onChain(eth: Eip1193Provider, chain: WalletChainView): Promise<void> {
  if (Number(await eth.request({ method: 'eth_chainId' })) === chain.chainId) return;
  const where = `${chain.chainName} (chain id ${chain.chainId})`;
  try {
    await eth.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: hex(chain.chainId) }] });
  } catch (error) {
    if (codeOf(error) === 4001) throw new ActionError(`Your wallet stayed on another network; changes are signed on ${where}.`, 'Try again and accept the network switch in your wallet.');
    if (codeOf(error) !== 4902) throw new ActionError(`Your wallet could not switch to ${where}.`, `Switch your wallet to chain id ${chain.chainId} yourself, then try again.`);
    if (!chain.rpcUrl) {
      throw new ActionError(`Your wallet does not know ${where}.`, 'Add this network to your wallet (the node operator can give you its RPC address), then try again.');
    }
    try {
      await eth.request({
        method: 'wallet_addEthereumChain',
        params: [{ chainId: hex(chain.chainId), chainName: chain.chainName, rpcUrls: [chain.rpcUrl], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } }],
      });
    } catch (addError) {
      if (codeOf(addError) === 4001) throw new ActionError(`You did not add ${where} to your wallet.`, 'Try again and approve adding the network; it costs nothing.');
      throw new ActionError(`Your wallet could not add ${where}.`, `Add it yourself (RPC ${chain.rpcUrl}), then try again.`);
    }
  }
  // Some wallets add a network without switching to it.
  if (Number(await eth.request({ method: 'eth_chainId' })) !== chain.chainId) {
    throw new ActionError(`Your wallet is still on another network; changes are signed on ${where}.`, `Switch your wallet to chain id ${chain.chainId}, then try again.`);
  }
}

/** A browser wallet (`window.ethereum`) for the chain `chain`; undefined when the browser has none. */
export function browserWallet(chain: WalletChainView | undefined): Signer | undefined {
  const eth = window.ethereum;
  if (!eth) return undefined;
  return {
    label: 'your wallet',
    demo: false,
    async signTypedData(address, typedData) {
      const accounts = (await eth.request({ method: 'eth_requestAccounts' })) as string[];
      if (!accounts.some((a) => a.toLowerCase() === address.toLowerCase())) {
        throw new ActionError('Your wallet is not using the account you signed in with.', `Select account ${address.slice(0, 6)}…${address.slice(-4)} in your wallet, then try again.`);
      }
      if (chain) await onChain(eth, chain);
      try {
        return String(await eth.request({ method: 'eth_signTypedData_v4', params: [address, JSON.stringify(withDomainType(typedData))] }));
      } catch (error) {
        // The wallet moved to another network meanwhile (MetaMask: "Provided chainId … must match the active chainId …").
        if (chain && /chain ?id/i.test((error as { message?: string }).message ?? '')) {
          throw new ActionError(`Your wallet is not on ${chain.chainName} (chain id ${chain.chainId}).`, `Switch your wallet to chain id ${chain.chainId}, then try again.`);
        }
        throw error;
      }
    },
  };
}

export function demoSigner(): Signer {
  return {
    label: 'the published demo key',
    demo: true,
    async signTypedData(_address, typedData) {
      const { signature } = await api<{ signature: string }>('/web/api/demo-wallet/sign-typed-data', { body: { typedData } });
      return signature;
    },
  };
}

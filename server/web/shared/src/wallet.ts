/**
 * The patient's signer for EIP-712 actions, as an EIP-1193 provider: a browser wallet
 * (`window.ethereum`), or, in the embedded demo only, the published dev key of the signed-in demo
 * identity, which the server holds and uses only for that identity (labelled as such in the UI).
 */
import { api } from './api.ts';
import type { TypedData } from './api-types.ts';

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

export function browserWallet(): Signer | undefined {
  const eth = window.ethereum;
  if (!eth) return undefined;
  return {
    label: 'your wallet',
    demo: false,
    async signTypedData(address, typedData) {
      await eth.request({ method: 'eth_requestAccounts' });
      const sig = await eth.request({ method: 'eth_signTypedData_v4', params: [address, JSON.stringify(withDomainType(typedData))] });
      return String(sig);
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

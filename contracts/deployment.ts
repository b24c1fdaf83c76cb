/**
 * Deploying the four MedRec contracts and describing where they live. A deployment file is what
 * servers, workers and the CLI read to find the contracts on any chain.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ContractFactory, getAddress, getCreateAddress, type Provider, type Signer } from 'ethers';
import { loadArtifact } from './build.ts';

export interface MedRecAddresses {
  readonly providerRegistry: string;
  readonly participantDirectory: string;
  readonly relationships: string;
  readonly consent: string;
}

export interface Deployment {
  readonly chainId: number;
  readonly addresses: MedRecAddresses;
  /** Block of the first deployment transaction: log followers start here. */
  readonly fromBlock: number;
  readonly deployer: string;
  /** Content hash of the contract sources that were deployed. */
  readonly sourceHash: string;
  readonly deployedAt: string;
  /** Where the chain answered when this file was written (the embedded chain records it). */
  readonly rpcUrl?: string;
}

/** A founding provider of the network (admitted without a vote). */
export interface FoundingProvider {
  readonly account: string;
  readonly name: string;
  readonly fhirBaseUrl: string;
  /** Address of the provider's chain node key (QBFT validator identity). */
  readonly node: string;
}

/**
 * Deploys ProviderRegistry, ParticipantDirectory, Relationships and Consent. All four creation
 * transactions are sent at once (Relationships gets the registry's precomputed address), so on an
 * interval-mined chain the whole deployment takes one block.
 */
export async function deployMedRec(signer: Signer, founders: readonly FoundingProvider[]): Promise<Deployment> {
  if (!signer.provider) throw new Error('the deployer signer needs a provider');
  if (founders.length === 0) throw new Error('a network needs at least one founding provider');
  const provider = signer.provider;
  const deployer = await signer.getAddress();
  const { chainId } = await provider.getNetwork();
  const nonce = await provider.getTransactionCount(deployer, 'pending');
  const registryAddress = getCreateAddress({ from: deployer, nonce });

  const factory = (name: Parameters<typeof loadArtifact>[0]): ContractFactory => {
    const artifact = loadArtifact(name);
    return new ContractFactory(artifact.abi, artifact.bytecode, signer);
  };
  const founderTuples = founders.map((f) => [getAddress(f.account), f.name, f.fhirBaseUrl, getAddress(f.node)]);
  // Explicit nonces: the transactions go out together without waiting for each other.
  const sent = [
    await factory('ProviderRegistry').getDeployTransaction(founderTuples),
    await factory('ParticipantDirectory').getDeployTransaction(),
    await factory('Relationships').getDeployTransaction(registryAddress),
    await factory('Consent').getDeployTransaction(),
  ].map((tx, i) => signer.sendTransaction({ ...tx, nonce: nonce + i }));
  const receipts = await Promise.all(sent.map(async (p) => (await p).wait()));
  const addresses = receipts.map((r, i) => {
    if (!r || r.status !== 1 || !r.contractAddress) throw new Error(`deployment transaction ${i} failed`);
    return r.contractAddress;
  });
  const [providerRegistry, participantDirectory, relationships, consent] = addresses as [string, string, string, string];
  if (providerRegistry !== registryAddress) throw new Error('ProviderRegistry landed at an unexpected address');
  return {
    chainId: Number(chainId),
    addresses: { providerRegistry, participantDirectory, relationships, consent },
    fromBlock: Math.min(...receipts.map((r) => r?.blockNumber ?? 0)),
    deployer,
    sourceHash: loadArtifact('Consent').sourceHash,
    deployedAt: new Date().toISOString(),
  };
}

export function saveDeployment(file: string, deployment: Deployment): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(deployment, null, 2) + '\n');
}

/** Reads and validates a deployment file. */
export function loadDeployment(file: string): Deployment {
  if (!existsSync(file)) throw new Error(`no deployment file at ${file}`);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<Deployment>;
  const a = raw.addresses;
  if (typeof raw.chainId !== 'number' || !a) throw new Error(`${file} is not a MedRec deployment file`);
  return {
    chainId: raw.chainId,
    addresses: {
      providerRegistry: getAddress(a.providerRegistry ?? ''),
      participantDirectory: getAddress(a.participantDirectory ?? ''),
      relationships: getAddress(a.relationships ?? ''),
      consent: getAddress(a.consent ?? ''),
    },
    fromBlock: raw.fromBlock ?? 0,
    deployer: raw.deployer ?? '',
    sourceHash: raw.sourceHash ?? '',
    deployedAt: raw.deployedAt ?? '',
    ...(typeof raw.rpcUrl === 'string' ? { rpcUrl: raw.rpcUrl } : {}),
  };
}

/** Throws unless the provider is on the deployment's chain and every contract has code. */
export async function checkDeployment(provider: Provider, deployment: Deployment): Promise<void> {
  const { chainId } = await provider.getNetwork();
  if (Number(chainId) !== deployment.chainId) {
    throw new Error(`the deployment is for chain ${deployment.chainId}, the node is chain ${chainId}`);
  }
  for (const [name, address] of Object.entries(deployment.addresses)) {
    if ((await provider.getCode(address)) === '0x') throw new Error(`no ${name} contract at ${address}`);
  }
}

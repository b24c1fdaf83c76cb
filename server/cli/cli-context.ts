/**
 * What every `medrec` subcommand group gets: the global options resolved into a chain
 * connection, a typed client and signers (lazily, so `--help` never touches the network), and
 * output helpers that print either human-readable lines or `--json`.
 *
 * A group is `{ name, register(program, ctx) }`; list it in server/cli/groups.ts.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { JsonRpcProvider, Signer } from 'ethers';
import { MedRecClient } from '../../contracts/client.ts';
import { connectChain, keySigner, keystoreSigner } from '../../contracts/connection.ts';
import { checkDeployment, loadDeployment, type Deployment } from '../../contracts/deployment.ts';
import { DEMO_CAST, demoWallet } from '../embedded/demo-identities.ts';

export interface CliGroup {
  /** Top-level command name (for help ordering and duplicate detection). */
  readonly name: string;
  register(program: Command, ctx: CliContext): void;
}

/** Global options (`medrec --help`). */
export interface GlobalOptions {
  readonly rpc?: string;
  readonly chainId?: string;
  readonly deployment: string;
  readonly keystore?: string;
  readonly demo?: string;
  readonly signOnly?: boolean;
  readonly json?: boolean;
}

/** A one-line user-facing failure (printed without a stack trace, exit code 1). */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Where the embedded chain (`npm start`) writes its deployment: `$MEDREC_DATA_DIR/chain/`. */
export const defaultDeploymentFile = (env: NodeJS.ProcessEnv): string => `${env.MEDREC_DATA_DIR ?? './.medrec-data'}/chain/deployment.json`;

export class CliContext {
  /** Exit code of a command that ran without throwing but reports a negative answer. */
  exitCode = 0;
  readonly #program: Command;
  readonly #env: NodeJS.ProcessEnv;
  readonly #write: (text: string) => void;
  #chain: Promise<{ provider: JsonRpcProvider; chainId: bigint }> | undefined;
  #client: Promise<MedRecClient> | undefined;

  constructor(program: Command, options: { env?: NodeJS.ProcessEnv; write?: (text: string) => void } = {}) {
    this.#program = program;
    this.#env = options.env ?? process.env;
    this.#write = options.write ?? ((text) => process.stdout.write(text));
  }

  get options(): GlobalOptions {
    return this.#program.opts<GlobalOptions>();
  }

  /** The deployment file's contents, if the file exists. */
  deploymentFile(): Deployment | undefined {
    const file = this.options.deployment;
    return existsSync(file) ? loadDeployment(file) : undefined;
  }

  /** The RPC URL given on the command line or in the environment (not the deployment file's). */
  explicitRpcUrl(): string | undefined {
    return this.options.rpc ?? this.#env.MEDREC_RPC_URL;
  }

  /** The chain: `--rpc`, else MEDREC_RPC_URL, else the RPC URL recorded in the deployment file. */
  chain(): Promise<{ provider: JsonRpcProvider; chainId: bigint }> {
    this.#chain ??= (async () => {
      const rpcUrl = this.explicitRpcUrl() ?? this.deploymentFile()?.rpcUrl;
      if (!rpcUrl) throw new CliError('no chain: pass --rpc <url> or set MEDREC_RPC_URL');
      const configured = this.options.chainId ?? this.#env.MEDREC_CHAIN_ID;
      return connectChain({ rpcUrl, chainId: configured ? BigInt(configured) : undefined, pollingInterval: 200 });
    })();
    return this.#chain;
  }

  /** The client on the configured deployment, with the relayer from MEDREC_RELAYER_KEY (or the demo operator). */
  client(): Promise<MedRecClient> {
    this.#client ??= (async () => {
      const deployment = this.deploymentFile();
      if (!deployment) throw new CliError(`no deployment file at ${this.options.deployment} (pass --deployment or run medrec deploy)`);
      const { provider } = await this.chain();
      await checkDeployment(provider, deployment);
      const relayerKey = this.#env.MEDREC_RELAYER_KEY ?? (this.options.demo ? demoWallet('operator').privateKey : undefined);
      const relayer = relayerKey ? keySigner(relayerKey, provider) : undefined;
      return new MedRecClient({ provider, deployment, relayer });
    })();
    return this.#client;
  }

  /** The acting key: `--demo <handle>` (published dev key), `--keystore`, or MEDREC_KEY. */
  async signer(): Promise<Signer> {
    const { provider } = await this.chain();
    const { demo, keystore } = this.options;
    if (demo) {
      if (!DEMO_CAST.some((i) => i.handle === demo)) {
        throw new CliError(`unknown demo identity ${demo} (one of ${DEMO_CAST.map((i) => i.handle).join(', ')})`);
      }
      return keySigner(demoWallet(demo).privateKey, provider);
    }
    if (keystore) {
      const password = this.#env.MEDREC_KEYSTORE_PASSWORD;
      if (password === undefined) throw new CliError('set MEDREC_KEYSTORE_PASSWORD to unlock the keystore');
      return keystoreSigner(keystore, password, provider);
    }
    const key = this.#env.MEDREC_KEY;
    if (!key) throw new CliError('no key: set MEDREC_KEY, or pass --keystore <file> (or --demo <handle> on a demo chain)');
    return keySigner(key, provider);
  }

  /** Prints `data` as JSON with --json, else the human-readable lines. */
  print(data: unknown, human: () => string | readonly string[]): void {
    if (this.options.json) {
      this.#write(JSON.stringify(data, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2) + '\n');
      return;
    }
    const lines = human();
    this.#write((typeof lines === 'string' ? lines : lines.join('\n')) + '\n');
  }

  /** Releases the connection (so the process can exit). */
  async close(): Promise<void> {
    const chain = await this.#chain?.catch(() => undefined);
    chain?.provider.destroy();
  }
}

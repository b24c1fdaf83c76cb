/**
 * The runtime behind the generated bindings: an ethers Contract whose calls, transactions and
 * logs are typed by the interfaces contracts/build.ts generates from the ABI. Results are
 * converted to plain values: structs become objects with named fields, integers of up to 64
 * bits (enums, timestamps, flags) become numbers, wider ones stay bigint.
 */
import {
  Contract,
  Interface,
  type ContractRunner,
  type ContractTransactionResponse,
  type InterfaceAbi,
  type Log,
  type Overrides,
  type ParamType,
} from 'ethers';

export interface FunctionSpec {
  readonly inputs: readonly unknown[];
  readonly output: unknown;
  readonly kind: 'view' | 'write';
}

/** A generated `<Name>Functions` interface: every member is a FunctionSpec. */
export type FunctionMap<F> = { readonly [K in keyof F]: FunctionSpec };
/** A generated `<Name>Events` interface: event name → decoded arguments. */
export type EventMap<E> = { readonly [K in keyof E]: object };

export type ViewName<F extends FunctionMap<F>> = { [K in keyof F & string]: F[K]['kind'] extends 'view' ? K : never }[keyof F & string];
export type WriteName<F extends FunctionMap<F>> = { [K in keyof F & string]: F[K]['kind'] extends 'write' ? K : never }[keyof F & string];

/** A decoded log of one of the contract's events. */
export type TypedLog<E extends EventMap<E>> = {
  [K in keyof E & string]: {
    readonly name: K;
    readonly args: E[K];
    readonly address: string;
    readonly blockNumber: number;
    readonly blockHash: string;
    readonly transactionHash: string;
    readonly logIndex: number;
  };
}[keyof E & string];

/** The minimal log shape (ethers `Log` or a raw `eth_getLogs` entry). */
export interface RawLog {
  readonly address: string;
  readonly topics: readonly string[];
  readonly data: string;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly transactionHash: string;
  readonly index?: number;
  readonly logIndex?: number;
}

export class TypedContract<F extends FunctionMap<F>, E extends EventMap<E>> {
  readonly address: string;
  readonly interface: Interface;
  readonly contract: Contract;
  readonly #abi: InterfaceAbi;

  constructor(abi: InterfaceAbi, address: string, runner: ContractRunner | null) {
    this.#abi = abi;
    this.address = address;
    this.interface = new Interface(abi);
    this.contract = new Contract(address, this.interface, runner);
  }

  /** The same contract used through another runner (signer or provider). */
  connect(runner: ContractRunner | null): TypedContract<F, E> {
    return new TypedContract<F, E>(this.#abi, this.address, runner);
  }

  /** Calls a view function. */
  async read<K extends ViewName<F>>(name: K, ...args: F[K]['inputs']): Promise<F[K]['output']> {
    const fn = this.contract.getFunction(name);
    const result: unknown = await fn.staticCall(...args);
    return convertOutputs(fn.fragment.outputs, result) as F[K]['output'];
  }

  /** Simulates a state-changing function (its return value, or its revert) without sending. */
  async simulate<K extends WriteName<F>>(name: K, args: F[K]['inputs'], overrides: Overrides = {}): Promise<F[K]['output']> {
    const fn = this.contract.getFunction(name);
    const result: unknown = await fn.staticCall(...args, overrides);
    return convertOutputs(fn.fragment.outputs, result) as F[K]['output'];
  }

  /** Sends a state-changing transaction (the runner must be a signer). */
  async write<K extends WriteName<F>>(name: K, args: F[K]['inputs'], overrides: Overrides = {}): Promise<ContractTransactionResponse> {
    const response: unknown = await this.contract.getFunction(name).send(...args, overrides);
    return response as ContractTransactionResponse;
  }

  /** ABI-encoded calldata of a function call (for relaying, gas estimates, or inspection). */
  encode<K extends keyof F & string>(name: K, args: F[K]['inputs']): string {
    return this.interface.encodeFunctionData(name, [...args]);
  }

  /** Decodes one log of this contract; null for logs of other contracts or unknown topics. */
  decodeLog(log: RawLog | Log): TypedLog<E> | null {
    if (log.address.toLowerCase() !== this.address.toLowerCase()) return null;
    const parsed = this.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (!parsed) return null;
    const args: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((param, i) => {
      args[param.name] = convert(param, parsed.args[i]);
    });
    const logIndex = 'logIndex' in log && typeof log.logIndex === 'number' ? log.logIndex : (log as { index?: number }).index ?? 0;
    return {
      name: parsed.name,
      args,
      address: log.address,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      transactionHash: log.transactionHash,
      logIndex,
    } as TypedLog<E>;
  }

  /** The topic hash of an event (for `eth_getLogs` filters). */
  topic<K extends keyof E & string>(event: K): string {
    const fragment = this.interface.getEvent(event);
    if (!fragment) throw new Error(`no event ${event}`);
    return fragment.topicHash;
  }
}

function convertOutputs(outputs: readonly ParamType[], result: unknown): unknown {
  if (outputs.length === 0) return undefined;
  if (outputs.length === 1 && outputs[0]) return convert(outputs[0], result);
  const values = result as readonly unknown[];
  const object: Record<string, unknown> = {};
  outputs.forEach((param, i) => {
    object[param.name || `out${i}`] = convert(param, values[i]);
  });
  return object;
}

/** ethers value → plain value of the generated TS type. */
export function convert(param: ParamType, value: unknown): unknown {
  if (param.baseType === 'array') {
    const child = param.arrayChildren;
    if (!child) throw new Error(`array without element type: ${param.format()}`);
    return Array.from(value as Iterable<unknown>, (v) => convert(child, v));
  }
  if (param.baseType === 'tuple') {
    const values = value as readonly unknown[];
    const object: Record<string, unknown> = {};
    (param.components ?? []).forEach((c, i) => {
      object[c.name] = convert(c, values[i]);
    });
    return object;
  }
  if (/^u?int/.test(param.baseType) && typeof value === 'bigint') {
    const bits = Number(param.baseType.replace(/^u?int/, '') || '256');
    if (bits <= 64) {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new RangeError(`${param.name}: ${value} does not fit a JS number`);
      }
      return Number(value);
    }
  }
  return value;
}

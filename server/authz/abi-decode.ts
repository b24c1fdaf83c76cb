/**
 * A small ABI decoder for the follower's event logs. ethers' general decoder costs about a
 * millisecond per GrantCreated log (its reader guards every allocation), which caps the
 * follower at a few hundred events per second; the events folded here use only a handful of
 * types (address, uintN, bytes32, string, address[], string[]), whose head/tail layout is
 * decoded directly from the bytes. Anything else, or any inconsistency, is left to ethers.
 */
import { Interface, type EventFragment } from 'ethers';

const SUPPORTED = new Set(['address', 'bytes32', 'string', 'address[]', 'string[]']);
const isUint = (t: string) => /^uint(8|16|32|64|128|256)$/.test(t);

export function fastDecodable(fragment: EventFragment): boolean {
  return fragment.inputs.every((p) => (p.indexed ? p.type === 'address' || isUint(p.type) || p.type === 'bytes32' : SUPPORTED.has(p.type) || isUint(p.type)));
}

class Words {
  readonly #b: Buffer;
  constructor(hex: string) {
    this.#b = Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex');
  }
  #check(at: number, length: number): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + length > this.#b.length) throw new RangeError('ABI data out of range');
  }
  word(at: number): Buffer {
    this.#check(at, 32);
    return this.#b.subarray(at, at + 32);
  }
  uint(at: number): bigint {
    return BigInt('0x' + (this.word(at).toString('hex') || '0'));
  }
  offset(at: number): number {
    const v = this.uint(at);
    if (v > BigInt(this.#b.length)) throw new RangeError('ABI offset out of range');
    return Number(v);
  }
  address(at: number): string {
    const w = this.word(at);
    return '0x' + w.subarray(12).toString('hex');
  }
  bytes32(at: number): string {
    return '0x' + this.word(at).toString('hex');
  }
  string(at: number): string {
    const length = this.offset(at);
    this.#check(at + 32, length);
    return this.#b.subarray(at + 32, at + 32 + length).toString('utf8');
  }
}

function staticValue(w: Words, type: string, at: number): unknown {
  if (type === 'address') return w.address(at);
  if (type === 'bytes32') return w.bytes32(at);
  return w.uint(at);
}

function decodeData(types: readonly string[], data: string): unknown[] {
  const w = new Words(data);
  return types.map((type, i) => {
    const head = 32 * i;
    if (type === 'string') return w.string(w.offset(head));
    if (type === 'address[]' || type === 'string[]') {
      const base = w.offset(head);
      const n = w.offset(base);
      const out: string[] = [];
      for (let k = 0; k < n; k++) {
        const slot = base + 32 + 32 * k;
        out.push(type === 'address[]' ? w.address(slot) : w.string(base + 32 + w.offset(slot)));
      }
      return out;
    }
    return staticValue(w, type, head);
  });
}

/** Decoded arguments by name: addresses lowercase hex, integers bigint, strings and arrays as is. */
export type LogArgs = Readonly<Record<string, unknown>>;

export class EventDecoder {
  readonly #iface: Interface;
  readonly #fast = new WeakSet<EventFragment>();

  constructor(iface: Interface) {
    this.#iface = iface;
    iface.forEachEvent((f) => {
      if (fastDecodable(f)) this.#fast.add(f);
    });
  }

  decode(fragment: EventFragment, data: string, topics: readonly string[]): LogArgs {
    if (this.#fast.has(fragment)) {
      try {
        return this.#decodeFast(fragment, data, topics);
      } catch {
        // Malformed for the fast path: ethers decides (and throws with its own message).
      }
    }
    const r = this.#iface.decodeEventLog(fragment, data, topics);
    const args: Record<string, unknown> = {};
    fragment.inputs.forEach((p, i) => (args[p.name] = r[i]));
    return args;
  }

  #decodeFast(fragment: EventFragment, data: string, topics: readonly string[]): LogArgs {
    const dataParams = fragment.inputs.filter((p) => !p.indexed);
    const values = decodeData(dataParams.map((p) => p.type), data);
    const args: Record<string, unknown> = {};
    let topic = 1;
    let value = 0;
    for (const p of fragment.inputs) {
      if (p.indexed) {
        const t = topics[topic++];
        if (!t) throw new RangeError('missing topic');
        const w = new Words(t);
        args[p.name] = staticValue(w, p.type, 0);
      } else {
        args[p.name] = values[value++];
      }
    }
    return args;
  }
}

/**
 * MLLP (Minimal Lower Layer Protocol) listener: `<VT> message <FS><CR>` frames over TCP.
 *
 * Every complete frame gets exactly one ACK (plus an application ACK later in enhanced mode),
 * in frame order per connection, including frames that are not HL7 at all (AR); only ACK
 * messages themselves are taken without an answer, as HL7 acknowledgements never are answered.
 * Bytes outside a frame are ignored; a start block inside a frame ends the interrupted frame
 * with an AR; frames larger than `maxFrameBytes` are refused without buffering them. Slow senders are fine (frames
 * are reassembled across reads); idle connections are closed after `idleTimeoutMs`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import { buildAck, wanted, type AckMode } from './acknowledgement.ts';
import type { Refusal } from './conversion/message-conversion.ts';
import { decodeMessageBytes, type Er7Message } from './er7.ts';
import { errorSummary, type AcceptanceOutcome, type MessageAcceptance } from './message-acceptance.ts';
import type { ConversionOutcome } from './store/hl7-store.ts';

/** Frames awaiting their ACK on one connection above which reading pauses (back-pressure). */
const MAX_IN_FLIGHT = 1000;

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

export interface MllpListenerOptions {
  readonly host: string;
  /** 0 picks a free port (see `port` after `start`). */
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly defaultCharset: 'utf8' | 'latin1';
  /** How long an enhanced-mode application ACK is awaited before it is given up (not sent). */
  readonly applicationAckTimeoutMs: number;
  /**
   * While application ACKs are awaited, how often the store is read for outcomes nobody announced
   * (another node converted without a Redis signal reaching this one). Outcomes of this node's
   * converter, and announced ones, need no poll.
   */
  readonly outcomePollMs: number;
  /** MLLP over TLS: key and certificate (PEM), optionally a CA to require client certificates. */
  readonly tls?: Pick<TlsOptions, 'key' | 'cert' | 'ca' | 'requestCert' | 'rejectUnauthorized'>;
}

interface AwaitingApplicationAck {
  readonly connection: MllpConnection;
  readonly message: Er7Message;
  readonly mode: AckMode;
  /** When the accept ACK went out (ms since epoch), for the application ACK timeout. */
  readonly since: number;
}

/** Where conversion outcomes are read: the store, shared by every node of the source. */
export type ConversionOutcomes = (seqs: readonly number[]) => Promise<ConversionOutcome[]>;

export class MllpListener {
  readonly #acceptance: MessageAcceptance;
  readonly #options: MllpListenerOptions;
  readonly #log: FastifyBaseLogger;
  readonly #connections = new Set<MllpConnection>();
  /** By inbox seq; a resent message awaits the same seq as its original. */
  readonly #awaiting = new Map<number, AwaitingApplicationAck[]>();
  readonly #outcomes: ConversionOutcomes;
  #outcomePoll?: NodeJS.Timeout;
  #reading = false;
  #readAgain = false;
  #server?: Server;
  #port = 0;

  constructor(acceptance: MessageAcceptance, outcomes: ConversionOutcomes, options: MllpListenerOptions, log: FastifyBaseLogger) {
    this.#acceptance = acceptance;
    this.#outcomes = outcomes;
    this.#options = options;
    this.#log = log;
  }

  /** Keeps only the awaited application ACKs `keep` accepts; returns how many were dropped. */
  #dropAwaiting(keep: (awaiting: AwaitingApplicationAck) => boolean): number {
    let dropped = 0;
    for (const [seq, list] of this.#awaiting) {
      const kept = list.filter(keep);
      dropped += list.length - kept.length;
      if (kept.length) this.#awaiting.set(seq, kept);
      else this.#awaiting.delete(seq);
    }
    return dropped;
  }

  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#server?.listening ?? false;
  }

  async start(): Promise<number> {
    const onConnection = (socket: Socket): void => {
      const connection = new MllpConnection(socket, this);
      this.#connections.add(connection);
      socket.once('close', () => {
        this.#connections.delete(connection);
        this.#dropAwaiting((awaiting) => awaiting.connection !== connection);
      });
    };
    const server = this.#options.tls ? createTlsServer(this.#options.tls, onConnection) : createServer(onConnection);
    if (this.#options.tls) server.on('tlsClientError', () => undefined); // a failed handshake is that client's problem
    server.maxConnections = this.#options.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.error({ err: errorSummary(err) }, 'hl7v2 MLLP listener error'));
    this.#server = server;
    const address = server.address();
    this.#port = typeof address === 'object' && address ? address.port : this.#options.port;
    return this.#port;
  }

  /**
   * Sends the application ACKs enhanced-mode senders asked for. Called at once by a conversion
   * worker of this node, and with what the store says (see `readOutcomes`), since another node
   * sharing the store may have converted the message. A resent message gets the ACK its
   * original's conversion earned: AA, or AE with the same error.
   */
  converted(outcomes: readonly ConversionOutcome[]): void {
    for (const outcome of outcomes) {
      const list = this.#awaiting.get(outcome.seq);
      if (!list) continue;
      this.#awaiting.delete(outcome.seq);
      for (const awaiting of list) {
        if (!wanted(awaiting.mode.application, outcome.ok)) continue;
        const ack = buildAck(
          awaiting.message,
          outcome.ok ? { code: 'AA' } : { code: 'AE', text: 'conversion failed', ...(outcome.error ? { error: outcome.error } : {}) },
        );
        awaiting.connection.afterPending(() => awaiting.connection.write(ack, awaiting.message));
      }
    }
  }

  /**
   * Reads the outcomes of the awaited messages from the store (and gives up stale ones): when
   * another node announces conversions, when a resent message's original may have converted long
   * ago, and as a slow fallback while ACKs are awaited. Never while nothing is awaited.
   */
  readOutcomes(): void {
    if (!this.#server || this.#awaiting.size === 0) return;
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    clearTimeout(this.#outcomePoll);
    this.#outcomePoll = undefined;
    const expired = Date.now() - this.#options.applicationAckTimeoutMs;
    const dropped = this.#dropAwaiting((awaiting) => awaiting.since >= expired);
    if (dropped) this.#log.warn({ dropped }, 'hl7v2 application ACKs given up: conversion did not finish in time');
    const seqs = [...this.#awaiting.keys()];
    if (seqs.length === 0) return;
    this.#reading = true;
    this.#outcomes(seqs)
      .then((outcomes) => this.converted(outcomes))
      .catch((error: unknown) => this.#log.error({ err: errorSummary(error) }, 'hl7v2 conversion outcomes unreadable; retrying'))
      .finally(() => {
        this.#reading = false;
        if (this.#readAgain) {
          this.#readAgain = false;
          this.readOutcomes();
        } else this.#pollOutcomes();
      });
  }

  /** The fallback: one store read after `outcomePollMs` while application ACKs are awaited. */
  #pollOutcomes(): void {
    if (this.#outcomePoll || this.#reading || this.#awaiting.size === 0 || !this.#server) return;
    this.#outcomePoll = setTimeout(() => {
      this.#outcomePoll = undefined;
      this.readOutcomes();
    }, this.#options.outcomePollMs);
    this.#outcomePoll.unref();
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const c of this.#connections) c.destroy();
    this.#awaiting.clear();
    clearTimeout(this.#outcomePoll);
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** @internal used by connections */
  get options(): MllpListenerOptions {
    return this.#options;
  }

  /** @internal */
  submit(text: string): Promise<AcceptanceOutcome> {
    return this.#acceptance.submit(text);
  }

  /**
   * @internal `resent`: a duplicate, whose original may have converted long ago (nothing will
   * announce it again), so the store is read at once.
   */
  awaitApplicationAck(seq: number, awaiting: Omit<AwaitingApplicationAck, 'since'>, resent: boolean): void {
    const list = this.#awaiting.get(seq);
    const entry = { ...awaiting, since: Date.now() };
    if (list) list.push(entry);
    else this.#awaiting.set(seq, [entry]);
    if (resent) this.readOutcomes();
    else this.#pollOutcomes();
  }

  /** @internal */
  get log(): FastifyBaseLogger {
    return this.#log;
  }
}

class MllpConnection {
  readonly #socket: Socket;
  readonly #listener: MllpListener;
  #chunks: Buffer[] = [];
  #size = 0;
  #inFrame = false;
  /** Discarding an oversized frame until its end block. */
  #skipping = false;
  /** The last read ended on FS: a CR at the start of the next read belongs to it. */
  #expectCr = false;
  /** ACKs leave in frame order. */
  #tail: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #paused = false;

  constructor(socket: Socket, listener: MllpListener) {
    this.#socket = socket;
    this.#listener = listener;
    socket.setNoDelay(true);
    socket.setTimeout(listener.options.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (data: Buffer) => this.#read(data));
    socket.on('error', () => socket.destroy());
  }

  destroy(): void {
    this.#socket.destroy();
  }

  write(ack: string, message: Er7Message | undefined, charset?: BufferEncoding): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    const encoding = charset ?? (message && /^8859\//.test(message.msh.get(18).toUpperCase()) ? 'latin1' : 'utf8');
    const body = Buffer.from(ack, encoding);
    const frame = Buffer.allocUnsafe(body.length + 3);
    frame[0] = VT;
    body.copy(frame, 1);
    frame[body.length + 1] = FS;
    frame[body.length + 2] = CR;
    this.#socket.write(frame);
  }

  #read(data: Buffer): void {
    let start = 0;
    if (this.#expectCr) {
      this.#expectCr = false;
      if (data[0] === CR) start = 1;
    }
    for (let i = start; i < data.length; i++) {
      const byte = data[i]!;
      if (!this.#inFrame) {
        if (byte === VT) {
          this.#inFrame = true;
          start = i + 1;
        }
        continue; // bytes outside a frame are ignored
      }
      if (byte === VT) {
        // A new start block inside a frame: the sender restarted; the interrupted frame is refused.
        this.#take(data.subarray(start, i));
        this.#frameBroken('MLLP frame interrupted by a new start block');
        this.#inFrame = true;
        start = i + 1;
      } else if (byte === FS) {
        this.#take(data.subarray(start, i));
        this.#inFrame = false;
        if (i + 1 < data.length) {
          if (data[i + 1] === CR) i++;
        } else {
          this.#expectCr = true;
        }
        start = i + 1;
        this.#frameComplete();
      }
    }
    if (this.#inFrame && start < data.length) this.#take(data.subarray(start));
  }

  #take(part: Buffer): void {
    if (this.#skipping || part.length === 0) return;
    if (this.#size + part.length > this.#listener.options.maxFrameBytes) {
      this.#skipping = true;
      this.#chunks = [];
      this.#size = 0;
      return;
    }
    this.#chunks.push(Buffer.from(part)); // copy: the read buffer is reused by the socket
    this.#size += part.length;
  }

  #frameBroken(reason: string): void {
    const refusal: Refusal = { ackCode: 'AR', hl7Code: '100', text: reason, location: '' };
    const bytes = Buffer.concat(this.#chunks);
    this.#reset();
    const text = decodeMessageBytes(bytes, this.#listener.options.defaultCharset);
    const controlId = (text.split(/\r|\n/, 1)[0] ?? '').split(text[3] ?? '|')[9] ?? '';
    this.#enqueue(Promise.resolve({ kind: 'unreadable', refusal, salvagedControlId: controlId.slice(0, 50) }));
  }

  #frameComplete(): void {
    if (this.#skipping) {
      this.#reset();
      const refusal: Refusal = { ackCode: 'AR', hl7Code: '104', text: `MLLP frame exceeds ${this.#listener.options.maxFrameBytes} bytes`, location: '' };
      this.#enqueue(Promise.resolve({ kind: 'unreadable', refusal, salvagedControlId: '' }));
      return;
    }
    const bytes = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#reset();
    const text = decodeMessageBytes(bytes, this.#listener.options.defaultCharset);
    const outcome = this.#listener.submit(text);
    // Register for the application ACK as soon as the message is accepted, before the worker can
    // convert it; the ACK itself is written after this frame's accept ACK (see afterPending).
    void outcome.then((o) => {
      if ((o.kind === 'accepted' || o.kind === 'duplicate') && o.seq > 0 && o.mode.enhanced && o.mode.application !== 'NE') {
        this.#listener.awaitApplicationAck(o.seq, { connection: this, message: o.message, mode: o.mode }, o.kind === 'duplicate');
      }
    });
    this.#enqueue(outcome);
  }

  /** Runs fn once every ACK already due on this connection has been written. */
  afterPending(fn: () => void): void {
    this.#tail = this.#tail.then(fn);
  }

  #reset(): void {
    this.#chunks = [];
    this.#size = 0;
    this.#skipping = false;
  }

  #enqueue(outcome: Promise<AcceptanceOutcome>): void {
    if (++this.#inFlight > MAX_IN_FLIGHT && !this.#paused) {
      this.#paused = true;
      this.#socket.pause(); // the store is behind: stop reading until ACKs catch up
    }
    this.#tail = this.#tail
      .then(() => outcome)
      .then((o) => this.#respond(o))
      .finally(() => {
        if (--this.#inFlight < MAX_IN_FLIGHT / 2 && this.#paused) {
          this.#paused = false;
          this.#socket.resume();
        }
      })
      .catch((error: unknown) => this.#listener.log.error({ err: errorSummary(error) }, 'hl7v2 MLLP acknowledgement failed'));
  }

  #respond(outcome: AcceptanceOutcome): void {
    switch (outcome.kind) {
      case 'acknowledgement':
        return;
      case 'unreadable':
        this.write(buildAck(undefined, { code: 'AR', text: outcome.refusal.text, error: outcome.refusal }, outcome.salvagedControlId), undefined);
        return;
      case 'refused': {
        const { message, mode, refusal } = outcome;
        const code = mode.enhanced ? (refusal.ackCode === 'AR' ? 'CR' : 'CE') : refusal.ackCode;
        if (!mode.enhanced || wanted(mode.accept, false)) this.write(buildAck(message, { code, text: refusal.text, error: refusal }), message);
        return;
      }
      case 'unavailable': {
        const { message, mode } = outcome;
        const error = { hl7Code: '207', text: 'message could not be stored, resend it', location: '' };
        this.write(buildAck(message, { code: mode.enhanced ? 'CE' : 'AE', text: error.text, error }), message);
        return;
      }
      case 'accepted':
      case 'duplicate': {
        const { message, mode } = outcome;
        const text = outcome.kind === 'duplicate' ? 'duplicate of an accepted message, not applied again' : undefined;
        if (!mode.enhanced) {
          this.write(buildAck(message, { code: 'AA', ...(text ? { text } : {}) }), message);
          return;
        }
        // The application ACK (a duplicate's too: its original's outcome) follows once known.
        if (wanted(mode.accept, true)) this.write(buildAck(message, { code: 'CA', ...(text ? { text } : {}) }), message);
      }
    }
  }
}

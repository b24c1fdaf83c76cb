/**
 * The `hl7v2` source kind: a hospital's interface engine feeds it over MLLP (and/or a file drop),
 * messages are durably accepted into the store's inbox before the ACK, converted to FHIR by the
 * conversion worker, and served from the store through the EhrAdapter interface with the same
 * in-memory search semantics as the other sources.
 */
import { readFile } from 'node:fs/promises';
import { OperationOutcomeError, badRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { EhrAdapter, SourceCapabilities, SourceHealth, SourcePage, SourceQuery } from '../ehr-adapter.ts';
import { SourceUnavailableError } from '../ehr-adapter.ts';
import { InMemoryResourceStore, inMemoryCapabilities } from '../embedded/in-memory-search.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import { ConversionWorker, type ConversionRunner } from './conversion-worker.ts';
import { decodeBatch, FileDrop, splitBatch } from './file-drop.ts';
import { parseHl7v2Options, type Hl7v2SourceOptions } from './hl7v2-source-options.ts';
import { errorSummary, MessageAcceptance, type AcceptanceOutcome } from './message-acceptance.ts';
import { MllpListener } from './mllp-listener.ts';
import { InboxSignal } from './inbox-signal.ts';
import { RecordChangeBatcher } from './record-change-batcher.ts';
import type { ConversionOutcome, Hl7Store } from './store/hl7-store.ts';
import { openHl7Store } from './store/open-store.ts';
import { REBUILD_LOG_MESSAGE } from './store/record-key-scheme.ts';
import { ThreadedStore } from './store/threaded-store.ts';

/** Resource types the conversion produces. */
export const HL7V2_RESOURCE_TYPES = [
  'AllergyIntolerance', 'DiagnosticReport', 'Encounter', 'Medication', 'MedicationRequest', 'Observation', 'Patient',
] as const;

interface ConversionHooks {
  onConverted: (outcomes: readonly ConversionOutcome[]) => void;
  onPatientsChanged: (ids: ReadonlySet<string>) => void;
}

/** Backlog of unconverted messages above which health reports `degraded`. */
const BACKLOG_DEGRADED = 10_000;

export class Hl7v2Source implements EhrAdapter {
  readonly sourceId: string;
  readonly evaluatesSearchItself = true;
  readonly store: Hl7Store;
  readonly options: Hl7v2SourceOptions;
  readonly #acceptance: MessageAcceptance;
  readonly #listener?: MllpListener;
  readonly #fileDrop?: FileDrop;
  readonly #worker?: ConversionRunner;
  readonly #batcher?: RecordChangeBatcher;
  /** Cross-node wake-ups for a shared PostgreSQL inbox (when the process has Redis). */
  readonly #signal?: InboxSignal;
  #capabilities?: SourceCapabilities;

  private constructor(
    config: SourceConfig,
    options: Hl7v2SourceOptions,
    store: Hl7Store,
    worker: ConversionRunner | undefined,
    hooks: ConversionHooks,
    context: AdapterContext,
  ) {
    this.sourceId = config.id;
    this.store = store;
    this.options = options;
    this.#worker = worker;
    const log = context.log.child({ source: config.id });
    const recordsChanged = context.recordsChanged;
    if (recordsChanged) this.#batcher = new RecordChangeBatcher(config.id, recordsChanged, options.notifyIntervalMs);
    hooks.onConverted = (outcomes) => {
      this.#listener?.converted(outcomes);
      if (outcomes.length) this.#signal?.publish('converted');
    };
    hooks.onPatientsChanged = (ids) => this.#batcher?.add(ids);
    if (context.redisUrl && options.store.kind === 'postgres') {
      this.#signal = new InboxSignal(context.redisUrl, `medrec:hl7v2:${options.store.schema}`, {
        accepted: () => this.#worker?.wake(),
        converted: () => this.#listener?.readOutcomes(),
      }, log);
    }
    this.#acceptance = new MessageAcceptance(store, { processingIds: options.processingIds }, log, () => {
      this.#worker?.wake();
      this.#signal?.publish('accepted');
    });
    if (options.mllp) {
      this.#listener = new MllpListener(
        this.#acceptance,
        (seqs) => store.outcomes(seqs),
        {
          host: options.mllp.host,
          port: options.mllp.port,
          maxFrameBytes: options.maxFrameBytes,
          idleTimeoutMs: options.idleTimeoutMs,
          maxConnections: options.maxConnections,
          defaultCharset: options.defaultCharset,
          applicationAckTimeoutMs: options.applicationAckTimeoutMs,
          outcomePollMs: options.storePollMs,
          ...(options.mllp.tls ? { tls: options.mllp.tls } : {}),
        },
        log,
      );
    }
    if (options.fileDrop) {
      this.#fileDrop = new FileDrop(this.#acceptance, { ...options.fileDrop, defaultCharset: options.defaultCharset }, log);
    }
  }

  static async open(config: SourceConfig, context: AdapterContext): Promise<Hl7v2Source> {
    const options = parseHl7v2Options(config.id, config.options, context.dataDir);
    const log = context.log.child({ source: config.id });
    // Filled in by the constructor: conversion reports to the listener and the batcher.
    const hooks: ConversionHooks = { onConverted: () => undefined, onPatientsChanged: () => undefined };
    const conversion = { sourceId: config.id, timezone: options.timezone };
    let store: Hl7Store;
    let worker: ConversionRunner | undefined;
    if (options.storeThread) {
      const threaded = await ThreadedStore.open(
        { store: options.store, conversion, batchSize: options.batchSize, convert: options.convert, pollMs: options.storePollMs },
        { log, onConverted: (o) => hooks.onConverted(o), onPatientsChanged: (ids) => hooks.onPatientsChanged(ids) },
      );
      store = threaded;
      worker = options.convert ? threaded : undefined;
    } else {
      store = await openHl7Store(options.store, (rebuild) => log.warn(rebuild, REBUILD_LOG_MESSAGE));
      worker = options.convert
        ? new ConversionWorker(store, {
            conversion,
            batchSize: options.batchSize,
            pollMs: options.storePollMs,
            log,
            onConverted: (o) => hooks.onConverted(o),
            onPatientsChanged: (ids) => hooks.onPatientsChanged(ids),
          })
        : undefined;
    }
    const source = new Hl7v2Source(config, options, store, worker, hooks, context);
    try {
      await source.#listener?.start();
      await source.#fileDrop?.start();
      if (options.sampleFeed) await source.#acceptAll(decodeBatch(await readFile(options.sampleFeed), options.defaultCharset));
      source.#worker?.wake(); // messages accepted before a restart
    } catch (error) {
      await source.close();
      throw error;
    }
    return source;
  }

  /** The MLLP port (after start; useful when configured as 0). */
  get mllpPort(): number | undefined {
    return this.#listener?.port;
  }

  /** Accepts every message of a batch text (as the file drop would), in order. */
  acceptText(text: string): Promise<AcceptanceOutcome[]> {
    return this.#acceptAll(splitBatch(text));
  }

  #acceptAll(messages: readonly string[]): Promise<AcceptanceOutcome[]> {
    return Promise.all(messages.map((m) => this.#acceptance.submit(m)));
  }

  /** Resolves when every accepted message is converted (tests, benchmarks, the CLI). */
  async drain(): Promise<void> {
    await this.#worker?.drain();
    this.#batcher?.flush();
  }

  /** One pass of the file drop (tests and the CLI; the drop polls by itself otherwise). */
  async scanFileDrop(): Promise<void> {
    await this.#fileDrop?.scan({ settled: true });
  }

  capabilities(): SourceCapabilities {
    this.#capabilities ??= inMemoryCapabilities(HL7V2_RESOURCE_TYPES);
    return this.#capabilities;
  }

  async read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined> {
    signal.throwIfAborted();
    if (!(HL7V2_RESOURCE_TYPES as readonly string[]).includes(resourceType)) return undefined;
    try {
      return await this.store.read(resourceType, id);
    } catch (error) {
      throw new SourceUnavailableError(this.sourceId, 'HL7v2 store unavailable', { cause: errorSummary(error) });
    }
  }

  async search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage> {
    signal.throwIfAborted();
    if (!(HL7V2_RESOURCE_TYPES as readonly string[]).includes(query.resourceType)) return { resources: [], total: 0 };
    const declared = this.capabilities().resources[query.resourceType]?.searchParams ?? [];
    const unknown = query.filters.find((f) => !declared.includes(f.code.split(':')[0]!));
    if (unknown) throw new OperationOutcomeError(badRequest(`Search parameter ${unknown.code} is not supported by source ${this.sourceId}`));
    let resources: Resource[];
    try {
      resources = await this.store.list(query.resourceType, query.patients);
    } catch (error) {
      throw new SourceUnavailableError(this.sourceId, 'HL7v2 store unavailable', { cause: errorSummary(error) });
    }
    signal.throwIfAborted();
    // The store already narrowed by type and compartment; filters, sort and paging are the shared
    // in-memory semantics every source uses.
    return new InMemoryResourceStore(resources).search(query);
  }

  async health(signal: AbortSignal): Promise<SourceHealth> {
    signal.throwIfAborted();
    const checkedAt = new Date().toISOString();
    try {
      const stats = await this.store.stats();
      const lagSeconds = stats.newestReceivedAt ? Math.max(0, Math.round((Date.now() - Date.parse(stats.newestReceivedAt)) / 1000)) : undefined;
      const listening = !this.#listener || this.#listener.listening;
      const status = !listening ? 'down' : stats.pending > BACKLOG_DEGRADED ? 'degraded' : 'up';
      return {
        status,
        detail: `${listening ? 'accepting' : 'listener not accepting'}; ${stats.pending} awaiting conversion; ${stats.deadLetters} dead letters`,
        ...(lagSeconds !== undefined ? { lagSeconds } : {}),
        checkedAt,
      };
    } catch (error) {
      return { status: 'down', detail: `store unavailable (${errorSummary(error).type})`, checkedAt };
    }
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    await this.#fileDrop?.close();
    await this.#signal?.close();
    if ((this.#worker as unknown) !== this.store) await this.#worker?.close(); // the threaded store closes its own worker
    this.#batcher?.flush();
    await this.store.close();
  }
}

export const createHl7v2Adapter: AdapterFactory = (config, context) => Hl7v2Source.open(config, context);

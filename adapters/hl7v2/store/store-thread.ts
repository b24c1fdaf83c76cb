/**
 * Worker-thread entry that owns an HL7v2 store and its conversion worker (see threaded-store.ts
 * for why). Answers store calls from the main thread and posts conversion outcomes, changed
 * patients and errors (no PHI) back to it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConversionWorker } from '../conversion-worker.ts';
import type { ConversionOptions } from '../conversion/conversion-result.ts';
import type { StoreOptions } from '../hl7v2-source-options.ts';
import { openHl7Store } from './open-store.ts';
import { REBUILD_LOG_MESSAGE } from './record-key-scheme.ts';
import type { StoreCall, StoreThreadEvent } from './threaded-store.ts';

export interface StoreThreadData {
  readonly store: StoreOptions;
  readonly conversion: ConversionOptions;
  readonly batchSize: number;
  readonly convert: boolean;
  /** The converter's fallback look for unannounced work (see ConversionWorker). */
  readonly pollMs: number;
}

const port = parentPort;
if (!port) throw new Error('store-thread.ts runs as a worker thread');
const data = workerData as StoreThreadData;
const post = (event: StoreThreadEvent): void => port.postMessage(event);
const store = await openHl7Store(data.store, (rebuild) => post({ event: 'log', level: 'warn', details: rebuild, message: REBUILD_LOG_MESSAGE }));
const worker = data.convert
  ? new ConversionWorker(store, {
      conversion: data.conversion,
      batchSize: data.batchSize,
      pollMs: data.pollMs,
      log: { error: (details, message) => post({ event: 'log', level: 'error', details, message }) },
      onConverted: (outcomes) => post({ event: 'converted', outcomes }),
      onPatientsChanged: (ids) => post({ event: 'changed', ids: [...ids] }),
    })
  : undefined;

async function call(c: StoreCall): Promise<unknown> {
  switch (c.op) {
    case 'accept': {
      const results = await store.accept(c.entries, c.deadLetters);
      if (results.some((r) => r.status === 'accepted')) worker?.wake();
      return results;
    }
    case 'pending': return store.pending(c.limit);
    case 'read': return store.read(c.resourceType, c.id);
    case 'list': return store.list(c.resourceType, c.patients);
    case 'addDeadLetter': return store.addDeadLetter(c.entry);
    case 'deadLetters': return store.deadLetters(c.options);
    case 'deadLetter': return store.deadLetter(c.id);
    case 'markReplayed': return store.markReplayed(c.id, c.outcome);
    case 'outcomes': return store.outcomes(c.seqs);
    case 'requeue': {
      await store.requeue(c.seq);
      worker?.wake();
      return undefined;
    }
    case 'stats': return store.stats();
    case 'wake': return worker?.wake();
    case 'drain': return worker?.drain();
    case 'close': {
      await worker?.close();
      await store.close();
      return undefined;
    }
  }
}

port.on('message', (message: { id: number; call: StoreCall }) => {
  call(message.call).then(
    (value) => {
      port.postMessage({ id: message.id, ok: true, value });
      if (message.call.op === 'close') port.close();
    },
    (error: unknown) => port.postMessage({ id: message.id, ok: false, error: { name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) } }),
  );
});
worker?.wake(); // messages accepted before a restart

/**
 * The `embedded` source kind: a provider's records served from FHIR Bundle files on disk with
 * real search semantics (see in-memory-search.ts). It backs the demo providers of `npm start`
 * and any small static data set.
 *
 * Options: `files` (bundle paths, relative to the process working directory or absolute) and
 * `latencyMs` (optional simulated answer delay, for demos and benchmarks of slow sources).
 */
import { isAbsolute, resolve } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import type { EhrAdapter, SourceCapabilities, SourceHealth, SourcePage, SourceQuery } from '../ehr-adapter.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import { readBundleFile } from './bundle-files.ts';
import { InMemoryResourceStore, inMemoryCapabilities } from './in-memory-search.ts';

export interface EmbeddedSourceOptions {
  readonly files: readonly string[];
  readonly latencyMs?: number;
}

export function parseEmbeddedOptions(sourceId: string, options: Readonly<Record<string, unknown>>): EmbeddedSourceOptions {
  const { files, latencyMs } = options;
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string' && f.length > 0)) {
    throw new Error(`source ${sourceId}: options.files must be a non-empty list of bundle file paths`);
  }
  if (latencyMs !== undefined && (typeof latencyMs !== 'number' || !Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 60_000)) {
    throw new Error(`source ${sourceId}: options.latencyMs must be a number of milliseconds between 0 and 60000`);
  }
  return { files: files as string[], latencyMs: latencyMs as number | undefined };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return signal.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolvePromise();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class EmbeddedAdapter implements EhrAdapter {
  readonly sourceId: string;
  readonly evaluatesSearchItself = true;
  readonly #store: InMemoryResourceStore;
  readonly #capabilities: SourceCapabilities;
  readonly #latencyMs: number;

  constructor(sourceId: string, resources: Iterable<Resource>, latencyMs = 0) {
    this.sourceId = sourceId;
    this.#store = new InMemoryResourceStore(resources);
    this.#capabilities = inMemoryCapabilities(this.#store.resourceTypes());
    this.#latencyMs = latencyMs;
  }

  capabilities(): SourceCapabilities {
    return this.#capabilities;
  }

  async read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined> {
    await delay(this.#latencyMs, signal);
    return this.#store.read(resourceType, id);
  }

  async search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage> {
    await delay(this.#latencyMs, signal);
    return this.#store.search(query);
  }

  async health(): Promise<SourceHealth> {
    return { status: 'up', detail: `${this.#store.size} resources`, checkedAt: new Date().toISOString() };
  }

  async close(): Promise<void> {}
}

export const createEmbeddedAdapter: AdapterFactory = async (config: SourceConfig, _context: AdapterContext) => {
  const options = parseEmbeddedOptions(config.id, config.options);
  const resources: Resource[] = [];
  for (const file of options.files) {
    resources.push(...(await readBundleFile(isAbsolute(file) ? file : resolve(file))));
  }
  return new EmbeddedAdapter(config.id, resources, options.latencyMs);
};

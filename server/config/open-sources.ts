/**
 * Opens configured sources through the adapter-kind registry, or, for `via: "queue"` sources,
 * as a queued source whose adapter runs at an adapter worker (server/adapter-worker.ts). If one
 * fails to open, the ones already open are closed again and the error names the source.
 */
import type { AdapterContext, SourceConfig } from '../../adapters/source-config.ts';
import { adapterKinds } from '../../adapters/registry.ts';
import { createQueuedSource } from '../../adapters/queue/queued-source.ts';
import type { FederatedSource } from '../fhir/source-directory.ts';

export async function openSources(configs: readonly SourceConfig[], context: AdapterContext): Promise<FederatedSource[]> {
  const opened: FederatedSource[] = [];
  try {
    for (const config of configs) {
      const load = adapterKinds[config.kind];
      if (!load) throw new Error(`source ${config.id}: unknown kind ${config.kind}`);
      const factory = config.via === 'queue' ? createQueuedSource : await load();
      const adapter = await factory(config, context);
      opened.push({ sourceId: config.id, provider: config.provider, name: config.name, adapter });
    }
    return opened;
  } catch (err) {
    await Promise.allSettled(opened.map((s) => s.adapter.close()));
    throw err;
  }
}

export async function closeSources(sources: readonly FederatedSource[]): Promise<void> {
  await Promise.allSettled(sources.map((s) => s.adapter.close()));
}

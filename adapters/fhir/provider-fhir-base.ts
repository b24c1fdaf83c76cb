/**
 * Where a peer MedRec node answers: the FHIR base URL in its provider record on chain
 * (ProviderRegistry). Only current providers are resolved, so a provider voted out of the network
 * is no longer asked; records are cached briefly because every peer source asks at start and the
 * registry changes only by vote or by the provider's own update.
 */
import type { ProviderRegistryContract } from '../../contracts/bindings/ProviderRegistry.ts';

export interface ProviderFhirBaseOptions {
  /** How long a resolved base URL is reused (default 5 minutes). */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

export type ProviderFhirBaseResolver = (provider: string, signal: AbortSignal) => Promise<string>;

export function providerRegistryFhirBase(registry: ProviderRegistryContract, options: ProviderFhirBaseOptions = {}): ProviderFhirBaseResolver {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { url: string; until: number }>();
  return async (provider, signal) => {
    const key = provider.toLowerCase();
    const hit = cache.get(key);
    if (hit && now() < hit.until) return hit.url;
    const lookup = (async () => {
      if (!(await registry.read('isProvider', provider))) throw new Error(`${provider} is not a current provider in the registry`);
      const record = await registry.read('getProvider', provider);
      let url: URL;
      try {
        url = new URL(record.fhirBaseUrl);
      } catch {
        throw new Error(`provider ${provider} has no usable FHIR base URL in the registry`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`provider ${provider}'s FHIR base URL is not http(s)`);
      return url.href;
    })();
    const url = await new Promise<string>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      lookup.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
    cache.set(key, { url, until: now() + ttlMs });
    return url;
  };
}

/**
 * The search-parameter support table: for each resource type, which parameters, includes and
 * reverse includes the registered sources evaluate, and which sources evaluate each. The
 * CapabilityStatement is generated from it, so it states only what the sources really do.
 */
import { getSearchParameter } from '@medplum/core';
import type { SourceCapabilities } from '../adapters/ehr-adapter.ts';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';

export interface SourceSupport {
  readonly sourceId: string;
  readonly capabilities: SourceCapabilities;
}

export interface ParamSupport {
  readonly code: string;
  readonly type: string;
  readonly definition?: string;
  /** Source ids that evaluate it, in configuration order. */
  readonly sources: readonly string[];
}

export interface ResourceSupport {
  readonly resourceType: string;
  readonly sources: readonly string[];
  readonly params: readonly ParamSupport[];
  readonly includes: readonly string[];
  readonly revIncludes: readonly string[];
}

export function searchParamSupport(sources: readonly SourceSupport[]): ResourceSupport[] {
  loadFhirDefinitions();
  const types = [...new Set(sources.flatMap((s) => Object.keys(s.capabilities.resources)))].sort();
  return types.map((resourceType) => {
    const serving = sources.filter((s) => s.capabilities.resources[resourceType]);
    const byCode = new Map<string, string[]>();
    const includes = new Set<string>();
    const revIncludes = new Set<string>();
    for (const s of serving) {
      const cap = s.capabilities.resources[resourceType];
      for (const code of cap?.searchParams ?? []) byCode.set(code, [...(byCode.get(code) ?? []), s.sourceId]);
      for (const i of cap?.includes ?? []) includes.add(i);
      for (const i of cap?.revIncludes ?? []) revIncludes.add(i);
    }
    const params = [...byCode.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, ids]) => {
        const definition = getSearchParameter(resourceType, code);
        return { code, type: (definition?.type as string | undefined) ?? 'string', definition: definition?.url, sources: ids };
      });
    return {
      resourceType,
      sources: serving.map((s) => s.sourceId),
      params,
      includes: [...includes].sort(),
      revIncludes: [...revIncludes].sort(),
    };
  });
}

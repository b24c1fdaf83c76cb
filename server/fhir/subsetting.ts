/**
 * `_summary` and `_elements`: subsetted copies tagged SUBSETTED, as FHIR R4 asks. Mandatory
 * elements are kept with `_elements` (the spec's SHOULD), and choice elements match by their
 * base name (`medication` keeps `medicationCodeableConcept`).
 */
import { getDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';
import type { SummaryMode } from './search-request.ts';

export const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

function keep(resource: Resource, names: ReadonlySet<string>): Resource {
  const out: Record<string, unknown> = { resourceType: resource.resourceType };
  for (const [key, value] of Object.entries(resource)) {
    if (key === 'resourceType') continue;
    const base = key.replace(/[A-Z].*$/, '');
    if (names.has(key) || names.has(base)) out[key] = value;
  }
  const meta = { ...((out.meta as Record<string, unknown> | undefined) ?? resource.meta ?? {}) } as Record<string, unknown>;
  const tags = (meta.tag as Array<{ system?: string; code?: string }> | undefined) ?? [];
  // Already tagged when a source of a merged Patient could not answer.
  meta.tag = tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code) ? tags : [...tags, SUBSETTED];
  out.meta = meta;
  return out as unknown as Resource;
}

function schema(resourceType: string): { summary: Set<string>; mandatory: Set<string> } {
  loadFhirDefinitions();
  const type = getDataType(resourceType) as { summaryProperties?: Set<string>; mandatoryProperties?: Set<string> };
  return { summary: new Set(type.summaryProperties ?? []), mandatory: new Set(type.mandatoryProperties ?? []) };
}

export function applyElements(resource: Resource, elements: readonly string[]): Resource {
  const names = new Set(['id', 'meta', ...elements, ...schema(resource.resourceType).mandatory]);
  return keep(resource, names);
}

export function applySummary(resource: Resource, mode: SummaryMode): Resource {
  if (mode === 'true') return keep(resource, new Set(['id', 'meta', ...schema(resource.resourceType).summary]));
  if (mode === 'text') return keep(resource, new Set(['id', 'meta', 'text', ...schema(resource.resourceType).mandatory]));
  if (mode === 'data') {
    const names = new Set(Object.keys(resource).filter((k) => k !== 'text'));
    return keep(resource, names);
  }
  return resource;
}

export function subset(resource: Resource, summary: SummaryMode | undefined, elements: readonly string[] | undefined): Resource {
  if (summary && summary !== 'count') return applySummary(resource, summary);
  if (elements && elements.length > 0) return applyElements(resource, elements);
  return resource;
}

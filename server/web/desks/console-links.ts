/**
 * The node's link table as the provider console changes it: the configured links (the sources
 * file, or the demo's) plus what the console linked, minus what it unlinked when a relationship
 * ended. Those changes are kept in a JSON file under the data dir, so after a restart the table
 * again matches the commitments the console put on chain.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { InMemoryPatientLinks, type PatientLink } from '../../fhir/patient-links.ts';
import type { LinkTable } from './provider-desk.ts';

interface LinkChanges {
  added: PatientLink[];
  removed: PatientLink[];
}

const same = (a: PatientLink, b: PatientLink) => a.patient === b.patient && a.sourceId === b.sourceId && a.localId === b.localId;
const normal = (l: PatientLink): PatientLink => ({ patient: l.patient.toLowerCase(), sourceId: l.sourceId, localId: l.localId });

export class ConsoleLinks implements LinkTable {
  /** The table the FHIR layer resolves patients with. */
  readonly table: InMemoryPatientLinks;
  readonly #file: string | undefined;
  readonly #changes: LinkChanges;

  /** `file`: where the console's changes are kept (none: in memory only). */
  constructor(configured: readonly PatientLink[], file?: string) {
    this.#file = file;
    this.#changes = file && existsSync(file) ? readChanges(file) : { added: [], removed: [] };
    const removed = this.#changes.removed;
    this.table = new InMemoryPatientLinks([...configured.map(normal).filter((l) => !removed.some((r) => same(r, l))), ...this.#changes.added]);
  }

  patientOf(sourceId: string, localId: string): string | undefined {
    return this.table.patientOf(sourceId, localId);
  }

  linksOf(patient: string): readonly PatientLink[] {
    return this.table.linksOf(patient);
  }

  add(link: PatientLink): void {
    const l = normal(link);
    this.table.add(l);
    const wasRemoved = this.#changes.removed.findIndex((r) => same(r, l));
    if (wasRemoved >= 0) this.#changes.removed.splice(wasRemoved, 1);
    else if (!this.#changes.added.some((a) => same(a, l))) this.#changes.added.push(l);
    this.#save();
  }

  remove(link: PatientLink): void {
    const l = normal(link);
    if (!this.table.remove(l)) return;
    const wasAdded = this.#changes.added.findIndex((a) => same(a, l));
    if (wasAdded >= 0) this.#changes.added.splice(wasAdded, 1);
    else this.#changes.removed.push(l);
    this.#save();
  }

  #save(): void {
    if (!this.#file) return;
    // Written whole and renamed into place: a crash leaves the old file or the new one, never half.
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#changes, null, 1) + '\n', { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}

function readChanges(file: string): LinkChanges {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LinkChanges>;
  const valid = (l: unknown): l is PatientLink => {
    const x = l as Partial<PatientLink> | undefined;
    return typeof x?.patient === 'string' && typeof x.sourceId === 'string' && typeof x.localId === 'string';
  };
  if (!Array.isArray(parsed.added) || !Array.isArray(parsed.removed) || ![...parsed.added, ...parsed.removed].every(valid)) {
    throw new Error(`${file}: not a link changes file (expected {"added": [...], "removed": [...]} of {patient, sourceId, localId})`);
  }
  return { added: parsed.added.map(normal), removed: parsed.removed.map(normal) };
}

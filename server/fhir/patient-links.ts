/**
 * Patient links: which local patient id a person has at each source. A provider node keeps
 * them privately (the chain holds only salted commitments). Lookups are synchronous because
 * they run for every reference of every returned resource; a persistent implementation keeps
 * an in-memory copy and refreshes it.
 */

export interface PatientLink {
  /** Patient key: lowercase 0x address. */
  readonly patient: string;
  readonly sourceId: string;
  readonly localId: string;
}

export interface PatientLinks {
  /** Local ids of this patient at this source (usually one; merged duplicates may give more). */
  localIds(patient: string, sourceId: string): readonly string[];
  /** The patient key a source-local patient id belongs to, if linked. */
  patientOf(sourceId: string, localId: string): string | undefined;
  /**
   * Every link of one patient, in insertion order. A new array whenever the patient's links
   * change (never mutated in place), so a caller may cache what it derives per array.
   */
  linksOf(patient: string): readonly PatientLink[];
  /** Every linked patient key. */
  patients(): readonly string[];
}

const NO_LINKS: readonly PatientLink[] = Object.freeze([]);

export class InMemoryPatientLinks implements PatientLinks {
  /** Replaced, never mutated, when a patient's links change (see `linksOf`). */
  readonly #byPatient = new Map<string, readonly PatientLink[]>();
  readonly #bySource = new Map<string, string>();

  constructor(links: Iterable<PatientLink> = []) {
    for (const link of links) this.add(link);
  }

  add(link: PatientLink): void {
    const patient = link.patient.toLowerCase();
    const key = `${link.sourceId}\u0000${link.localId}`;
    const existing = this.#bySource.get(key);
    if (existing !== undefined && existing !== patient) {
      // Errors end in logs: name the source, never the local id or either patient.
      throw new Error(`a local patient id at source "${link.sourceId}" is linked to two patients (each local id may belong to one only)`);
    }
    if (existing === patient) return;
    this.#bySource.set(key, patient);
    this.#byPatient.set(patient, [...(this.#byPatient.get(patient) ?? []), { patient, sourceId: link.sourceId, localId: link.localId }]);
  }

  /** Forgets one link (a relationship ended); false when it was not there. */
  remove(link: PatientLink): boolean {
    const patient = link.patient.toLowerCase();
    const key = `${link.sourceId}\u0000${link.localId}`;
    if (this.#bySource.get(key) !== patient) return false;
    this.#bySource.delete(key);
    const rest = (this.#byPatient.get(patient) ?? []).filter((l) => l.sourceId !== link.sourceId || l.localId !== link.localId);
    if (rest.length) this.#byPatient.set(patient, rest);
    else this.#byPatient.delete(patient);
    return true;
  }

  localIds(patient: string, sourceId: string): readonly string[] {
    return (this.#byPatient.get(patient) ?? []).filter((l) => l.sourceId === sourceId).map((l) => l.localId);
  }

  patientOf(sourceId: string, localId: string): string | undefined {
    return this.#bySource.get(`${sourceId}\u0000${localId}`);
  }

  linksOf(patient: string): readonly PatientLink[] {
    return this.#byPatient.get(patient) ?? NO_LINKS;
  }

  patients(): readonly string[] {
    return [...this.#byPatient.keys()];
  }
}

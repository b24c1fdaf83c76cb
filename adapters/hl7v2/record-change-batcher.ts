/**
 * Coalesces "records of these local patients changed" into one call per interval, so a busy
 * feed raises at most one notification per patient per interval (default one second).
 */
export class RecordChangeBatcher {
  readonly #sourceId: string;
  readonly #notify: (sourceId: string, localPatientIds: readonly string[]) => void;
  readonly #intervalMs: number;
  #pending = new Set<string>();
  #timer?: NodeJS.Timeout;

  constructor(sourceId: string, notify: (sourceId: string, localPatientIds: readonly string[]) => void, intervalMs = 1000) {
    this.#sourceId = sourceId;
    this.#notify = notify;
    this.#intervalMs = intervalMs;
  }

  add(localPatientIds: Iterable<string>): void {
    for (const id of localPatientIds) this.#pending.add(id);
    if (this.#pending.size && !this.#timer) {
      this.#timer = setTimeout(() => this.flush(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const ids = [...this.#pending].sort();
    this.#pending = new Set();
    this.#notify(this.#sourceId, ids);
  }
}

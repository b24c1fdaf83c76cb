/**
 * A circuit breaker per upstream source. After `failureThreshold` consecutive failures it opens:
 * calls fail at once (no load on a struggling EHR) for `openMs`; then it lets exactly one probe
 * through (half-open). The probe's success closes it, its failure opens it again.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  readonly failureThreshold?: number;
  readonly openMs?: number;
  readonly now?: () => number;
}

export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
}

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly openMs: number;
  #now: () => number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;
  #listeners: ((transition: BreakerTransition) => void)[] = [];

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.openMs) this.#move('half-open');
    return this.#state;
  }

  /** Milliseconds until an open breaker lets a probe through (0 when not open). */
  get retryInMs(): number {
    return this.state === 'open' ? Math.max(0, this.openMs - (this.#now() - this.#openedAt)) : 0;
  }

  onTransition(listener: (transition: BreakerTransition) => void): void {
    this.#listeners.push(listener);
  }

  /** Whether a call may go out now; in half-open state only the first caller gets `true`. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probeInFlight) return false;
    this.#probeInFlight = true;
    return true;
  }

  /** A call that went out finished without an upstream fault (any 2xx–4xx except 429). */
  recordSuccess(): void {
    this.#failures = 0;
    this.#probeInFlight = false;
    if (this.#state !== 'closed') this.#move('closed');
  }

  /** A call that went out ended in a fault of the upstream (network, timeout, 5xx, garbage). */
  recordFailure(): void {
    this.#failures += 1;
    const wasProbe = this.#probeInFlight;
    this.#probeInFlight = false;
    if (this.#state === 'half-open' || wasProbe || this.#failures >= this.failureThreshold) {
      this.#openedAt = this.#now();
      if (this.#state !== 'open') this.#move('open');
    }
  }

  /** A call that went out and ended without a verdict (the caller gave up): free the probe slot. */
  release(): void {
    this.#probeInFlight = false;
  }

  #move(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    for (const listener of this.#listeners) listener({ from, to });
  }
}

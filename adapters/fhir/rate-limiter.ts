/**
 * Per-source request rate limit: a token bucket in this process, in front of every request the
 * source's adapter sends (`rateLimit.enforcedBy: "inline"`). A `via: "queue"` source may hand the
 * limit to its queue's BullMQ limiter instead (`enforcedBy: "queue"`), shared by all its workers.
 */
export interface RateLimitOptions {
  /** Sustained requests per second to this upstream. */
  readonly perSecond: number;
  /** Requests that may go out at once after a quiet period (default: max(1, perSecond)). */
  readonly burst?: number;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

export class TokenBucket {
  readonly perSecond: number;
  readonly burst: number;
  #tokens: number;
  #refilledAt: number;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RateLimitOptions) {
    if (!(options.perSecond > 0)) throw new Error('rate limit: perSecond must be a positive number');
    this.perSecond = options.perSecond;
    this.burst = Math.max(1, options.burst ?? Math.ceil(options.perSecond));
    this.#tokens = this.burst;
    this.#refilledAt = performance.now();
  }

  /** Resolves when a request may go out; FIFO among waiters; rejects when `signal` aborts. */
  acquire(signal: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('rate limiter closed'));
    signal.throwIfAborted();
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const waiter of this.#waiters) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(new Error('rate limiter closed'));
    }
    this.#waiters = [];
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.perSecond);
    this.#refilledAt = now;
  }

  #schedule(): void {
    if (this.#timer || this.#waiters.length === 0) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#waiters.length > 0 && this.#tokens >= 1) {
        const waiter = this.#waiters.shift() as Waiter;
        waiter.signal.removeEventListener('abort', waiter.onAbort);
        this.#tokens -= 1;
        waiter.resolve();
      }
      this.#schedule();
    }, wait);
  }
}

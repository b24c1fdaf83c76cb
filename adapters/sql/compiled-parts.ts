/**
 * Statement parts that depend only on the mapping (a resource's select list, its FROM with the
 * joins, its own conditions, a child collection's or lookup's head), compiled once per mapping
 * node and reused by every search: on a database that answers in half a millisecond, rebuilding
 * them on each search was a measurable share of the search. A part that reads the query's "now"
 * (e.g. a status computed against the current time) is reused only for that same "now".
 */
import type { CompileContext, Fragment } from './sql-expr.ts';

interface Compiled {
  readonly fragment: Fragment;
  /** The "now" the part was compiled with, when it reads it. */
  readonly now?: string;
}

export class CompiledParts {
  readonly #parts = new WeakMap<object, Map<string, Compiled>>();

  /** The fragment `compile` gives for (`owner`, `part`), compiled on first use. */
  get(owner: object, part: string, ctx: CompileContext, compile: (ctx: CompileContext) => Fragment): Fragment {
    let byPart = this.#parts.get(owner);
    const known = byPart?.get(part);
    if (known && (known.now === undefined || known.now === ctx.now)) return known.fragment;
    let readsNow = false;
    const watched: CompileContext = {
      clock: ctx.clock,
      bool: ctx.bool,
      exactIn: ctx.exactIn,
      get now() {
        readsNow = true;
        return ctx.now;
      },
    };
    const fragment = compile(watched);
    if (!byPart) this.#parts.set(owner, (byPart = new Map()));
    byPart.set(part, readsNow ? { fragment, now: ctx.now } : { fragment });
    return fragment;
  }
}

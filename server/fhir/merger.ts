/**
 * The k-way merge of several sources' sorted result streams into one page, and the
 * per-source positions that let the next page continue exactly where this one stopped.
 * Each source is asked with the same page size every time (`sourceCount`), so its page tokens
 * stay aligned with the `skip` counts recorded in the cursor.
 */
import type { SortRule } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { SourcePage, SourceQuery } from '../../adapters/ehr-adapter.ts';
import { compareBySortRules } from '../../adapters/embedded/sort-rules.ts';
import type { SourcePosition } from './cursor.ts';
import { sourceIssue } from './outcomes.ts';
import { callSource } from './source-call.ts';
import type { FederatedSource } from './source-directory.ts';

export interface MergeInput {
  readonly source: FederatedSource;
  /** The source's query without `page`/`count`. */
  readonly query: Omit<SourceQuery, 'page' | 'count'>;
  readonly position: SourcePosition;
}

export interface MergedItem {
  readonly source: FederatedSource;
  readonly resource: Resource;
}

export interface MergeResult {
  readonly items: readonly MergedItem[];
  readonly positions: Record<string, SourcePosition>;
  readonly issues: readonly OperationOutcomeIssue[];
  /** Sum of the sources' totals when every asked source reported one. */
  readonly total?: number;
  readonly more: boolean;
}

class SourceStream {
  readonly input: MergeInput;
  buffer: readonly Resource[] = [];
  index = 0;
  pageToken: string | undefined;
  nextToken: string | undefined;
  total: number | undefined;
  failure: OperationOutcomeIssue | undefined;

  constructor(input: MergeInput) {
    this.input = input;
    this.pageToken = input.position.page;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  get exhausted(): boolean {
    return this.failed || (this.index >= this.buffer.length && this.nextToken === undefined);
  }

  peek(): Resource | undefined {
    return this.buffer[this.index];
  }

  position(): SourcePosition {
    if (this.failure) return { skip: 0, done: true, failed: this.failure.code };
    if (this.index >= this.buffer.length) {
      return this.nextToken === undefined ? { skip: 0, done: true } : { page: this.nextToken, skip: 0, done: false };
    }
    return { page: this.pageToken, skip: this.index, done: false };
  }
}

export interface MergeOptions {
  readonly count: number;
  readonly sourceCount: number;
  readonly sort: readonly SortRule[];
  readonly wantTotal: boolean;
  readonly accurateTotal: boolean;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

async function fetchPage(stream: SourceStream, token: string | undefined, options: MergeOptions, issues: OperationOutcomeIssue[]): Promise<void> {
  const query: SourceQuery = { ...stream.input.query, count: options.sourceCount, page: token, total: options.wantTotal, accurateTotal: options.accurateTotal };
  const result = await callSource<SourcePage>(stream.input.source, options.timeoutMs, options.signal, (signal) =>
    stream.input.source.adapter.search(query, signal),
  );
  if (!result.ok) {
    stream.failure = result.issue;
    issues.push(result.issue);
    return;
  }
  stream.pageToken = token;
  stream.buffer = result.value.resources;
  stream.nextToken = result.value.next;
  stream.total ??= result.value.total;
}

const REPEATED_CODES = ['timeout', 'not-supported', 'exception'] as const;

export async function mergeSources(inputs: readonly MergeInput[], options: MergeOptions): Promise<MergeResult> {
  // A source that failed on an earlier page is not asked again, but its absence is still said.
  const issues: OperationOutcomeIssue[] = inputs
    .filter((i) => i.position.failed !== undefined)
    .map((i) => sourceIssue(REPEATED_CODES.find((c) => c === i.position.failed) ?? 'incomplete', i.source.sourceId, `${i.source.name} failed on an earlier page of this search; its records are missing from this result`));
  const streams = inputs.filter((i) => !i.position.done).map((i) => new SourceStream(i));
  // First pages in parallel: the search costs as much as its slowest source, not their sum.
  await Promise.all(
    streams.map(async (s) => {
      await fetchPage(s, s.input.position.page, options, issues);
      s.index = Math.min(s.input.position.skip, s.buffer.length);
    }),
  );
  const items: MergedItem[] = [];
  // Bounds source round trips even if an adapter keeps returning empty pages with a next token.
  let rounds = 0;
  const maxRounds = options.count + streams.length + 8;
  while (items.length < options.count && rounds++ < maxRounds) {
    await Promise.all(
      streams
        .filter((s) => !s.failed && s.index >= s.buffer.length && s.nextToken !== undefined)
        .map(async (s) => {
          await fetchPage(s, s.nextToken, options, issues);
          s.index = 0;
        }),
    );
    let best: SourceStream | undefined;
    for (const s of streams) {
      const candidate = s.failed ? undefined : s.peek();
      if (!candidate) continue;
      // Strictly smaller wins, so equal keys keep source order: the default order is deterministic.
      if (!best || compareBySortRules(candidate, best.peek() as Resource, options.sort) < 0) best = s;
    }
    if (!best) break;
    items.push({ source: best.input.source, resource: best.peek() as Resource });
    best.index++;
  }
  const positions: Record<string, SourcePosition> = {};
  for (const input of inputs) positions[input.source.sourceId] = input.position;
  for (const s of streams) positions[s.input.source.sourceId] = s.position();
  const asked = streams.filter((s) => !s.failed);
  const total = asked.length === streams.length && asked.every((s) => s.total !== undefined)
    ? asked.reduce((n, s) => n + (s.total as number), 0)
    : undefined;
  return { items, positions, issues, total, more: streams.some((s) => !s.exhausted) };
}

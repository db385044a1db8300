/**
 * What the hooks need of a durably, whichever side of the network it is on: `http.ts` speaks
 * to the HTTP handler, `local.ts` calls an instance in the page. The hooks and the feeds are
 * written once against this contract.
 */
import type { DurablyEvent, Run, RunFilter } from '../index.js'
import type { DurablyClientError } from './errors.js'
import type { HookTriggerOptions } from './types.js'

/** Where a followed run's news goes. */
export interface RunSink {
  /** The run as it is now: first, and again after a reconnection. */
  snapshot(run: Run): void
  event(event: DurablyEvent): void
  /** Following failed for good (unknown run, refusal); nothing more comes. */
  error(error: DurablyClientError): void
}

/** Where the run-list stream's news goes. */
export interface RunsSink {
  /** The stream is (again) connected: events may have been missed, read the list anew. */
  open(): void
  event(event: DurablyEvent): void
  error(error: DurablyClientError): void
}

/** Every method rejects with a `DurablyClientError`. */
export interface Transport {
  trigger(jobName: string, input: unknown, options: HookTriggerOptions): Promise<string>
  getRun(runId: string): Promise<Run | null>
  getRuns(filter: RunFilter): Promise<Run[]>
  retry(runId: string): Promise<void>
  cancel(runId: string): Promise<void>
  deleteRun(runId: string): Promise<void>
  signal(runId: string, name: string, data: unknown, options: { id?: string }): Promise<void>
  /** Follow one run until it settles; returns what stops following it. */
  followRun(runId: string, sink: RunSink): () => void
  /** Follow run-level events of every run (of one job); returns what stops it. */
  followRuns(jobName: string | undefined, sink: RunsSink): () => void
}

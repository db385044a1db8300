/**
 * durably/react: hooks over the HTTP handler or over an instance in the page.
 * Public exports only; read `hooks.ts` next.
 */
export type { DurablyClientErrorDetails } from './errors.js'
export { DurablyClientError } from './errors.js'
export type { DurablyHooks, LocalHooksOptions } from './hooks.js'
export { createDurablyHooks } from './hooks.js'
export type { HttpHooksOptions } from './http.js'
export type { LocalDurably } from './local.js'
export type { ReconnectOptions } from './sse.js'
export type {
  AnyJobs,
  HookTriggerOptions,
  JobInput,
  JobName,
  JobOutput,
  JobState,
  RunActions,
  RunLog,
  RunsFilter,
  RunsState,
  RunView,
  SendSignal,
} from './types.js'

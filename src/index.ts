/**
 * durably: step-oriented, resumable batch execution on SQL.
 * Public exports only; read `durably.ts` next.
 */

export type {
  Durably,
  DurablyPlugin,
  DurablyStorage,
  DurablyWith,
  PluginHooks,
} from './durably.js'
export { createDurably } from './durably.js'
export type { Duration, DurationUnit } from './duration.js'
export type { DurablyErrorCode, ValidationIssue } from './errors.js'
export {
  CancelledError,
  ClosedError,
  ConflictError,
  DatabaseError,
  DurablyError,
  InvalidArgumentError,
  isDurablyError,
  LeaseLostError,
  NonRetriableError,
  NotFoundError,
  RetryAfterError,
  RunFailedError,
  SerializationError,
  TimeoutError,
  ValidationError,
} from './errors.js'
export type {
  ChildFinishEvent,
  ChildStartEvent,
  DurablyEvent,
  DurablyEventMap,
  ErrorHandler,
  EventReceiveEvent,
  EventSendEvent,
  EventType,
  LogWriteEvent,
  RunCancelEvent,
  RunCompleteEvent,
  RunDeleteEvent,
  RunEvent,
  RunFailEvent,
  RunProgressEvent,
  RunRetryEvent,
  RunStartEvent,
  RunTriggerEvent,
  RunWaitEvent,
  StepCompleteEvent,
  StepFailEvent,
  StepRetryEvent,
  StepStartEvent,
  StorageVolatileEvent,
  TerminalEvent,
  WorkerErrorContext,
  WorkerErrorEvent,
} from './events.js'
export {
  EVENT_TYPES,
  RUN_EVENT_TYPES,
  TERMINAL_EVENT_TYPES,
  WORKER_ERROR_CONTEXTS,
} from './events.js'
export type { ConcurrencyOptions, DebounceOptions, FlowKey, ThrottleOptions } from './flow.js'
export type {
  AuthorizeContext,
  DurablyHandler,
  DurablyHandlerOptions,
  HandlerAction,
  TriggerRequest,
  TriggerResponse,
} from './http/handler.js'
export { createDurablyHandler } from './http/handler.js'
export type {
  AnyJobDefinition,
  BatchTriggerInput,
  HandleOf,
  HandlesOf,
  InvokableJob,
  InvokeInput,
  InvokeOptions,
  InvokeOutput,
  JobDefinition,
  JobHandle,
  StepContext,
  StepRunInfo,
  TriggerOptions,
  WaitForEventOptions,
} from './job.js'
export { defineJob } from './job.js'
export type { DialectLike, DurablyOptions, RetentionOptions } from './options.js'
export { withLogPersistence } from './plugins/log-persistence.js'
export type { RetryBackoff, RetryPolicy, StepRunOptions } from './retry-policy.js'
export type { PurgeOptions } from './runs.js'
export type { ScheduleDefinition } from './schedule.js'
export type { ScheduleInfo } from './schedules.js'
export type { SendOptions, SentEvent } from './send.js'
export type { Jsonify } from './serialize.js'
export type {
  CreateLogInput,
  CreateRunInput,
  CreateStepInput,
  Storage,
  UpdateRunData,
} from './store/legacy-storage.js'
export type { ListenClient, ListenPool } from './store/postgres-listener.js'
export type {
  Database,
  DurablyEventKeysTable,
  DurablyEventsTable,
  DurablyLogsTable,
  DurablyRunsTable,
  DurablySchemaVersionsTable,
  DurablyStepsTable,
  LogsTable,
  RunsTable,
  SchemaVersionsTable,
  StepsTable,
} from './store/schema.js'
export { cacheStatements } from './store/statement-cache.js'
export type {
  ClaimedRun,
  CreatedRun,
  Decoded,
  EventQuery,
  Lease,
  NewEvent,
  NewLog,
  NewRun,
  NewStep,
  RecordedStep,
  RunQueue,
  RunRepository,
  Store,
  StoredEvent,
  Suspension,
  WakeCondition,
} from './store/store.js'
export type {
  Attempt,
  BlockedBy,
  Log,
  LogLevel,
  Progress,
  Run,
  RunFilter,
  RunStatus,
  Step,
  StepAttempt,
  StepStatus,
  TerminalStatus,
  WaitingFor,
} from './types.js'
export { RUN_STATUSES, TERMINAL_STATUSES } from './types.js'

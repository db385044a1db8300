/**
 * Every error durably throws is a `DurablyError` with a stable `code`. Check errors by
 * `code` (or `isDurablyError`) rather than `instanceof` alone, so two installed copies of
 * the package still agree; the HTTP handler maps codes to statuses exhaustively.
 */
export const DURABLY_ERROR_CODES = [
  'VALIDATION',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'CONFLICT',
  'CANCELLED',
  'LEASE_LOST',
  'SERIALIZATION',
  'TIMEOUT',
  'RUN_FAILED',
  'DATABASE',
  'CLOSED',
  'NON_RETRIABLE',
  'RETRY_AFTER',
] as const

export type DurablyErrorCode = (typeof DURABLY_ERROR_CODES)[number]

export class DurablyError extends Error {
  readonly code: DurablyErrorCode

  constructor(code: DurablyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DurablyError'
    this.code = code
  }
}

/** One problem found by a schema, in the shape zod reports it. */
export interface ValidationIssue {
  path: PropertyKey[]
  message: string
  code?: string
}

/** Input that fails its job's schema. Nothing was stored. */
export class ValidationError extends DurablyError {
  readonly issues: ValidationIssue[]

  constructor(message: string, issues: ValidationIssue[] = []) {
    super('VALIDATION', message)
    this.name = 'ValidationError'
    this.issues = issues
  }
}

export class InvalidArgumentError extends DurablyError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message)
    this.name = 'InvalidArgumentError'
  }
}

export class NotFoundError extends DurablyError {
  constructor(message: string) {
    super('NOT_FOUND', message)
    this.name = 'NotFoundError'
  }
}

/** The run exists but is in the wrong status for the action asked of it. */
export class ConflictError extends DurablyError {
  constructor(message: string) {
    super('CONFLICT', message)
    this.name = 'ConflictError'
  }
}

export class CancelledError extends DurablyError {
  readonly runId: string

  constructor(runId: string, message = `Run ${runId} was cancelled`) {
    super('CANCELLED', message)
    this.name = 'CancelledError'
    this.runId = runId
  }
}

/** This worker no longer holds the run's lease (recovered elsewhere or cancelled). */
export class LeaseLostError extends DurablyError {
  readonly runId: string

  constructor(runId: string) {
    super('LEASE_LOST', `Run ${runId} is no longer leased to this worker`)
    this.name = 'LeaseLostError'
    this.runId = runId
  }
}

/** A value JSON cannot carry faithfully (BigInt, function, cycle, Map, NaN…). */
export class SerializationError extends DurablyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SERIALIZATION', message, options)
    this.name = 'SerializationError'
  }
}

export class TimeoutError extends DurablyError {
  constructor(message: string) {
    super('TIMEOUT', message)
    this.name = 'TimeoutError'
  }
}

/** `triggerAndWait` rejects with this when the run fails; `message` is the run's error. */
export class RunFailedError extends DurablyError {
  readonly runId: string

  constructor(runId: string, message: string) {
    super('RUN_FAILED', message)
    this.name = 'RunFailedError'
    this.runId = runId
  }
}

/** The database refused or failed a statement (busy, locked, connection lost…). */
export class DatabaseError extends DurablyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATABASE', message, options)
    this.name = 'DatabaseError'
  }
}

export class ClosedError extends DurablyError {
  constructor(message = 'This durably instance has been stopped') {
    super('CLOSED', message)
    this.name = 'ClosedError'
  }
}

/**
 * Thrown by a job or step body: the failure will not go away by trying again (a refused card,
 * a missing record), so the retry policy is skipped and the step or run fails at once.
 */
export class NonRetriableError extends DurablyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NON_RETRIABLE', message, options)
    this.name = 'NonRetriableError'
  }
}

/**
 * Thrown by a job or step body: try again, but not before `retryAfter` milliseconds (a 429's
 * `Retry-After`, say). It replaces the backoff's delay for that retry; it still counts as an
 * attempt, so it does not retry past the policy's `attempts`.
 */
export class RetryAfterError extends DurablyError {
  /** Milliseconds to wait before the next attempt. */
  readonly retryAfter: number

  constructor(retryAfter: number, message?: string, options?: { cause?: unknown }) {
    if (typeof retryAfter !== 'number' || !Number.isFinite(retryAfter) || retryAfter < 0) {
      throw new InvalidArgumentError(
        `RetryAfterError: the delay must be a finite, non-negative number of milliseconds, got ${String(retryAfter)}`,
      )
    }
    super('RETRY_AFTER', message ?? `Retry after ${retryAfter} ms`, options)
    this.name = 'RetryAfterError'
    this.retryAfter = retryAfter
  }
}

/**
 * Our errors by code *and* class name, so a copy of durably from another install still
 * matches, while a stranger's error that happens to carry `code: 'NOT_FOUND'` does not.
 */
export function isDurablyError(value: unknown): value is DurablyError {
  if (value instanceof DurablyError) return true
  if (!(value instanceof Error)) return false
  const code = (value as { code?: unknown }).code
  return typeof code === 'string' && DURABLY_CODES.has(code) && DURABLY_NAMES.has(value.name)
}

const DURABLY_CODES: ReadonlySet<string> = new Set(DURABLY_ERROR_CODES)
const DURABLY_NAMES: ReadonlySet<string> = new Set([
  'DurablyError',
  'ValidationError',
  'InvalidArgumentError',
  'NotFoundError',
  'ConflictError',
  'CancelledError',
  'LeaseLostError',
  'SerializationError',
  'TimeoutError',
  'RunFailedError',
  'DatabaseError',
  'ClosedError',
  'NonRetriableError',
  'RetryAfterError',
])

/** Normalise anything thrown into an `Error`, keeping the original as `cause`. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value
  if (typeof value === 'string') return new Error(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return new Error(text, { cause: value })
}

export function errorMessage(value: unknown): string {
  return coerceError(value).message
}

/** A key we do not know is a mistake (a typo such as `retires`), never silently ignored. */
export function rejectUnknownKeys(
  value: object,
  known: readonly string[],
  subject: string,
  ErrorClass: new (message: string) => Error = InvalidArgumentError,
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ErrorClass(`${subject}: unknown option "${key}" (known: ${known.join(', ')})`)
    }
  }
}

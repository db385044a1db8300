/**
 * The one error the hooks report: in a hook's `requestError` state, and as the rejection of
 * the functions they return. It says who refused and why, without the caller parsing a
 * Response: the HTTP status when a server answered, the durably error code when known.
 */
import { DURABLY_ERROR_CODES, type DurablyErrorCode, type ValidationIssue } from '../errors.js'

export interface DurablyClientErrorDetails {
  status?: number | null
  code?: DurablyErrorCode | null
  issues?: ValidationIssue[]
  runId?: string
  cause?: unknown
}

export class DurablyClientError extends Error {
  /** The HTTP status the server answered; null when none did (network, a local instance). */
  readonly status: number | null
  /**
   * The durably error code: from a local instance's error, from the server's answer when it
   * names one, `RUN_FAILED` or `CANCELLED` when `triggerAndWait`'s run did not complete.
   */
  readonly code: DurablyErrorCode | null
  /** What the job's input schema found wrong (a `VALIDATION` refusal); empty otherwise. */
  readonly issues: ValidationIssue[]
  readonly runId: string | undefined

  constructor(message: string, details: DurablyClientErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'DurablyClientError'
    this.status = details.status ?? null
    this.code = details.code ?? null
    this.issues = details.issues ?? []
    this.runId = details.runId
  }
}

export function isErrorCode(value: unknown): value is DurablyErrorCode {
  return (DURABLY_ERROR_CODES as readonly unknown[]).includes(value)
}

/** Anything a local instance threw, as a `DurablyClientError` keeping its code and issues. */
export function clientErrorOf(error: unknown, runId?: string): DurablyClientError {
  if (error instanceof DurablyClientError) return error
  const message = error instanceof Error ? error.message : String(error)
  const { code, issues } = (error ?? {}) as { code?: unknown; issues?: unknown }
  return new DurablyClientError(message, {
    code: isErrorCode(code) ? code : null,
    ...(Array.isArray(issues) ? { issues: issues as ValidationIssue[] } : {}),
    ...(runId ? { runId } : {}),
    cause: error,
  })
}

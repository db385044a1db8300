/**
 * The one way an error becomes an answer. `describeError` decides, once, the status and
 * whether the client may read the message; the JSON answer and the SSE error event are both
 * built from that description, so a Response is never parsed back into an error.
 */
import {
  type DurablyErrorCode,
  isDurablyError,
  ValidationError,
  type ValidationIssue,
} from '../errors.js'

/**
 * HTTP statuses for durably's error codes. A `Record` over the code union: a new code does
 * not compile until it has a status here. Below 500 the message describes the client's own
 * request and is shown to it; from 500 on it stays inside.
 */
export const STATUS_BY_CODE: Record<DurablyErrorCode, number> = {
  VALIDATION: 400,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CANCELLED: 409,
  LEASE_LOST: 409,
  SERIALIZATION: 500,
  RUN_FAILED: 500,
  TIMEOUT: 504,
  DATABASE: 503,
  CLOSED: 503,
  // Thrown inside job bodies to steer retries; one reaching a request is the server's failure.
  NON_RETRIABLE: 500,
  RETRY_AFTER: 500,
}

/** A request the handler refuses, with the status and message the client receives. */
export class HttpError extends Error {
  readonly status: number
  readonly issues: ValidationIssue[] | undefined
  readonly headers: Record<string, string>
  /** Sent unchanged instead of a JSON body: what `authorize` or `onRequest` answered. */
  readonly response: Response | undefined

  constructor(
    status: number,
    message: string,
    extra: {
      issues?: ValidationIssue[]
      headers?: Record<string, string>
      response?: Response
    } = {},
  ) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.issues = extra.issues
    this.headers = extra.headers ?? {}
    this.response = extra.response
  }
}

export interface ErrorDescription {
  status: number
  message: string
  issues?: ValidationIssue[]
  headers?: Record<string, string>
  response?: Response
  /** False when the error is the server's own trouble: report it, show a generic message. */
  exposed: boolean
}

export function describeError(error: unknown): ErrorDescription {
  // 0.6.0-era hooks refused a request by throwing a Response; it is answered as it is.
  if (error instanceof Response) return refusedWith(error)
  if (error instanceof HttpError) {
    if (error.response) return refusedWith(error.response)
    return {
      status: error.status,
      message: error.message,
      exposed: true,
      headers: error.headers,
      ...(error.issues ? { issues: error.issues } : {}),
    }
  }
  if (isDurablyError(error)) {
    const status = STATUS_BY_CODE[error.code]
    if (status >= 500) return { status, message: genericMessage(status), exposed: false }
    const issues = error instanceof ValidationError ? error.issues : undefined
    return { status, message: error.message, exposed: true, ...(issues ? { issues } : {}) }
  }
  return { status: 500, message: genericMessage(500), exposed: false }
}

function refusedWith(response: Response): ErrorDescription {
  return { status: response.status, message: 'Refused', exposed: true, response }
}

function genericMessage(status: number): string {
  if (status === 503) return 'Service unavailable; try again'
  if (status === 504) return 'Timed out'
  return 'Internal server error'
}

// Exactly this value: code written for 0.6.0 compares the header as a string.
const JSON_HEADERS = { 'content-type': 'application/json' }

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } })
}

export function errorResponse(description: ErrorDescription): Response {
  if (description.response) return description.response
  const body: { error: string; issues?: ValidationIssue[] } = { error: description.message }
  if (description.issues) body.issues = description.issues
  return json(body, description.status, description.headers)
}

/** Sent as the last event of a stream that was refused or cannot go on. */
export interface StreamError {
  error: string
  status: number
}

export function streamError(description: ErrorDescription): StreamError {
  return { error: description.message, status: description.status }
}

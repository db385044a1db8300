/**
 * HTTP statuses for durably's error codes. A `Record` over the code union: a new code does
 * not compile until it has a status here.
 */
import type { DurablyErrorCode } from '../errors.js'

export const STATUS_BY_CODE: Record<DurablyErrorCode, number> = {
  VALIDATION: 400,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CANCELLED: 409,
  LEASE_LOST: 409,
  // The rest are the server's trouble, never the client's: their messages stay inside.
  SERIALIZATION: 500,
  RUN_FAILED: 500,
  TIMEOUT: 504,
  DATABASE: 503,
  CLOSED: 503,
}

/** Codes whose message describes the client's request and may be shown to it. */
export const CLIENT_CODES: ReadonlySet<DurablyErrorCode> = new Set([
  'VALIDATION',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'CONFLICT',
  'CANCELLED',
  'LEASE_LOST',
])

/** JSON responses and the one error type the handler throws to answer with a status. */
import type { ValidationIssue } from '../errors.js'

/** A request the handler refuses, with the status and message the client receives. */
export class HttpError extends Error {
  readonly status: number
  readonly issues: ValidationIssue[] | undefined
  readonly headers: Record<string, string>

  constructor(
    status: number,
    message: string,
    extra: { issues?: ValidationIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.issues = extra.issues
    this.headers = extra.headers ?? {}
  }
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } })
}

export function errorJson(error: HttpError): Response {
  const body: { error: string; issues?: ValidationIssue[] } = { error: error.message }
  if (error.issues) body.issues = error.issues
  return json(body, error.status, error.headers)
}

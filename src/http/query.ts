/** Query parameters, checked: a bad value is the client's mistake (400), never a 500. */
import { isRunStatus, RUN_STATUSES, type RunFilter } from '../types.js'
import { HttpError } from './response.js'

const MAX_ID_LENGTH = 256
const MAX_NAME_LENGTH = 256
export const MAX_LIMIT = 1000
const MAX_OFFSET = 1_000_000_000

export function requireRunId(url: URL): string {
  const runId = url.searchParams.get('runId')
  if (runId === null || runId === '') {
    // 0.6.0's words: clients written for it may match on them.
    throw new HttpError(400, 'runId query parameter is required')
  }
  if (runId.length > MAX_ID_LENGTH) {
    throw new HttpError(400, `runId is longer than ${MAX_ID_LENGTH} characters`)
  }
  return runId
}

export function optionalJobName(url: URL): string | undefined {
  const jobName = url.searchParams.get('jobName')
  if (jobName === null) return undefined
  if (jobName === '' || jobName.length > MAX_NAME_LENGTH) {
    throw new HttpError(400, `jobName must be 1 to ${MAX_NAME_LENGTH} characters`)
  }
  return jobName
}

export function runFilterOf(url: URL): RunFilter {
  const filter: RunFilter = {}
  const given = url.searchParams.get('status')
  // `@coji/durably-react` 0.15 names a running run `leased` (its autoResume asks for
  // `status=leased` and gave up on our 400); it is the same state, so the word is accepted.
  const status = given === 'leased' ? 'running' : given
  if (status !== null) {
    if (!isRunStatus(status)) {
      throw new HttpError(400, `status must be one of ${RUN_STATUSES.join(', ')}`)
    }
    filter.status = status
  }
  const jobName = optionalJobName(url)
  if (jobName !== undefined) filter.jobName = jobName
  // Children of one run (`step.invoke`). Passed on as it is: `getRuns` checks the filter, so
  // a durably without parent runs refuses it (400) rather than ignoring it.
  const parentRunId = url.searchParams.get('parentRunId')
  if (parentRunId !== null) {
    if (parentRunId === '' || parentRunId.length > MAX_ID_LENGTH) {
      throw new HttpError(400, `parentRunId must be 1 to ${MAX_ID_LENGTH} characters`)
    }
    Object.assign(filter, { parentRunId })
  }
  const limit = integerParam(url, 'limit', 1, MAX_LIMIT)
  if (limit !== undefined) filter.limit = limit
  const offset = integerParam(url, 'offset', 0, MAX_OFFSET)
  if (offset !== undefined) filter.offset = offset
  return filter
}

/** `preview`: cut each run's payload and output to this many characters (`GET /runs`). */
export function previewLength(url: URL): number | undefined {
  return integerParam(url, 'preview', 0, MAX_PREVIEW)
}

const MAX_PREVIEW = 100_000

function integerParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name)
  if (raw === null) return undefined
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${name} must be a whole number from ${min} to ${max}`)
  }
  return value
}

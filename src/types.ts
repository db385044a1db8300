/** The shapes durably stores and returns. Timestamps are ISO-8601 strings. */

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'

export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled']

export function isTerminal(status: RunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled'
}

export interface Progress {
  current: number
  total?: number
  message?: string
}

export interface Run<TOutput = unknown> {
  id: string
  jobName: string
  status: RunStatus
  payload: unknown
  output?: TOutput
  error?: string
  progress?: Progress
  idempotencyKey: string | null
  concurrencyKey: string | null
  /** Index the next new step will get: the number of completed steps. */
  currentStepIndex: number
  /** Number of completed steps. */
  stepCount: number
  heartbeatAt: string | null
  startedAt: string | null
  completedAt: string | null
  createdAt: string
  updatedAt: string
}

export type StepStatus = 'completed' | 'failed'

export interface Step {
  id: string
  runId: string
  name: string
  index: number
  status: StepStatus
  output?: unknown
  error?: string
  startedAt: string
  completedAt: string
}

export type LogLevel = 'info' | 'warn' | 'error'

export interface Log {
  id: string
  runId: string
  stepName: string | null
  level: LogLevel
  message: string
  data?: unknown
  createdAt: string
}

export interface RunFilter {
  status?: RunStatus
  jobName?: string
  limit?: number
  offset?: number
}

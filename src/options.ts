/**
 * `createDurably` options: defaults from the specification, validated once at construction.
 */
import type { Dialect } from 'kysely'
import { type Duration, parseDuration } from './duration.js'
import { InvalidArgumentError, rejectUnknownKeys } from './errors.js'
import type { FamilyName } from './store/family.js'
import type { ListenPool } from './store/postgres-listener.js'
import { TERMINAL_STATUSES, type TerminalStatus } from './types.js'

/**
 * How long finished runs are kept, per status: `'7d'`, `'12h'`, `'30m'` or milliseconds.
 * A status left out is kept forever.
 */
export type RetentionOptions = Partial<Record<TerminalStatus, Duration>>

/**
 * A Kysely dialect, described by shape. Kysely ships separate ESM and CommonJS declarations,
 * and a dialect package may be typed against either; typing the option by shape lets both
 * fit (CommonJS + TypeScript + libSQL failed to compile with kysely's `Dialect` here).
 */
export interface DialectLike {
  createAdapter(): unknown
  createDriver(): unknown
  createIntrospector(db: never): unknown
  createQueryCompiler(): unknown
}

export interface DurablyOptions {
  /** A Kysely dialect: libSQL, better-sqlite3, SQLocal (browser) or PostgreSQL. */
  dialect: DialectLike
  /** How often an idle worker looks for work created elsewhere (ms). Default 1000. */
  pollingInterval?: number
  /** How often a running run's lease is renewed (ms). Default 5000. */
  heartbeatInterval?: number
  /** A running run whose heartbeat is older than this is abandoned and resumed elsewhere (ms). Default 30000. */
  staleThreshold?: number
  /** Runs one worker executes at once; raise it for I/O-bound jobs. Default 1. */
  concurrency?: number
  /**
   * The SQL family of `dialect`. Detected from the dialect's query compiler when omitted;
   * set it when wrapping a dialect in a way detection cannot see through.
   */
  family?: FamilyName
  /**
   * PostgreSQL only: how idle workers hear of work triggered by other processes. By default a
   * connection of the dialect's own pool runs `LISTEN` and stays in the pool, so a run
   * triggered anywhere wakes idle workers everywhere within milliseconds instead of at their
   * next poll (polling stays the fallback).
   *
   * Pass a `pg` Pool on the same database (the dialect's own pool is fine) to keep one of its
   * connections out for listening instead: durably then asks it `SELECT 1` every heartbeat, so
   * a partition that silently killed it is noticed at once; gives each of the pool's clients
   * an 'error' listener, so a connection the server drops while a statement runs fails that
   * statement (which durably retries or reports) instead of crashing the process with an
   * unhandled 'error' event; and ends a connection given back while a statement on it still
   * awaits its answer (`query_timeout` gave up on it), so the pool never hands out a
   * connection stuck on a dead socket.
   *
   * `false`: never listen; workers in other processes find new work at their next poll.
   *
   * @example
   * const pool = new pg.Pool({ connectionString })
   * createDurably({ dialect: new PostgresDialect({ pool }), listen: pool })
   */
  listen?: ListenPool | false
  /**
   * Remove finished runs (with their steps, logs and signals) once they are this old, in the
   * background while the worker is started: 100 runs at a time, pausing between
   * batches so claims go first. Broadcast events older than the longest period, that no
   * unfinished run could still take, go too.
   *
   * @example createDurably({ dialect, retention: { completed: '7d', failed: '30d' } })
   */
  retention?: RetentionOptions
}

/** The worker's timing and capacity, every value checked and defaulted. */
export interface ResolvedOptions {
  pollingInterval: number
  heartbeatInterval: number
  staleThreshold: number
  concurrency: number
}

const OPTION_KEYS = [
  'dialect',
  'pollingInterval',
  'heartbeatInterval',
  'staleThreshold',
  'concurrency',
  'family',
  'listen',
  'retention',
] as const satisfies readonly (keyof DurablyOptions)[]

export const DEFAULT_OPTIONS: ResolvedOptions = {
  pollingInterval: 1000,
  heartbeatInterval: 5000,
  staleThreshold: 30000,
  concurrency: 1,
}

export type CheckedOptions = Omit<DurablyOptions, 'dialect' | 'retention'> &
  ResolvedOptions & {
    dialect: Dialect
    /** Milliseconds per status, when the `retention` option was given. */
    retention?: Partial<Record<TerminalStatus, number>>
  }

export function resolveOptions(options: unknown): CheckedOptions {
  if (!options || typeof options !== 'object') {
    throw new InvalidArgumentError('createDurably: expected an options object with a "dialect"')
  }
  rejectUnknownKeys(options, OPTION_KEYS, 'createDurably')
  const given = options as Partial<DurablyOptions>
  const dialect = given.dialect as Partial<Dialect> | undefined
  if (
    !dialect ||
    typeof dialect.createDriver !== 'function' ||
    typeof dialect.createQueryCompiler !== 'function'
  ) {
    throw new InvalidArgumentError(
      'createDurably: "dialect" must be a Kysely dialect (for example new LibsqlDialect({ url }))',
    )
  }
  const resolved = {
    ...given,
    pollingInterval: positive(
      given.pollingInterval,
      'pollingInterval',
      DEFAULT_OPTIONS.pollingInterval,
    ),
    heartbeatInterval: positive(
      given.heartbeatInterval,
      'heartbeatInterval',
      DEFAULT_OPTIONS.heartbeatInterval,
    ),
    staleThreshold: positive(
      given.staleThreshold,
      'staleThreshold',
      DEFAULT_OPTIONS.staleThreshold,
    ),
    concurrency: positive(given.concurrency, 'concurrency', DEFAULT_OPTIONS.concurrency),
    ...(given.retention !== undefined ? { retention: retentionPeriods(given.retention) } : {}),
  } as CheckedOptions
  if (!Number.isInteger(resolved.concurrency)) {
    throw new InvalidArgumentError(
      `createDurably: concurrency must be a whole number, got ${resolved.concurrency}`,
    )
  }
  if (resolved.staleThreshold <= resolved.heartbeatInterval) {
    throw new InvalidArgumentError(
      `createDurably: staleThreshold (${resolved.staleThreshold} ms) must be greater than heartbeatInterval ` +
        `(${resolved.heartbeatInterval} ms), or live runs would be taken from their workers`,
    )
  }
  if (given.family !== undefined && given.family !== 'sqlite' && given.family !== 'postgres') {
    throw new InvalidArgumentError(
      `createDurably: family must be 'sqlite' or 'postgres', got ${String(given.family)}`,
    )
  }
  if (
    given.listen !== undefined &&
    given.listen !== false &&
    (typeof given.listen?.connect !== 'function' || typeof given.listen?.on !== 'function')
  ) {
    throw new InvalidArgumentError(
      'createDurably: "listen" must be a pg Pool (an object with connect()) or false',
    )
  }
  return resolved
}

function retentionPeriods(retention: unknown): Partial<Record<TerminalStatus, number>> {
  if (!retention || typeof retention !== 'object' || Array.isArray(retention)) {
    throw new InvalidArgumentError(
      "createDurably: retention must be an object such as { completed: '7d', failed: '30d' }",
    )
  }
  rejectUnknownKeys(retention, TERMINAL_STATUSES, 'createDurably: retention')
  const periods: Partial<Record<TerminalStatus, number>> = {}
  for (const [status, value] of Object.entries(retention) as [TerminalStatus, unknown][]) {
    if (value === undefined) continue
    const ms = parseDuration(value)
    if (ms === undefined) {
      throw new InvalidArgumentError(
        `createDurably: retention.${status} must be a positive duration ('7d', '12h', '30m', '45s', '500ms' or milliseconds), got ${JSON.stringify(value) ?? String(value)}`,
      )
    }
    periods[status] = ms
  }
  return periods
}

// setTimeout overflows past 2^31-1 ms and fires at once: refuse such values too.
const MAX_TIMER_MS = 2 ** 31 - 1

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new InvalidArgumentError(
      `createDurably: ${name} must be a positive number of at most ${MAX_TIMER_MS}, got ${String(value)}`,
    )
  }
  return value
}

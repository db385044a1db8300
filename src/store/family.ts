/**
 * What differs between SQL families. The Kysely store writes portable statements itself and
 * asks the family only for what must differ: column types, the claim, the fenced step
 * commit, the one-statement batch insert, the migration lock and how values come back.
 * Nothing outside the family files branches on a family's name.
 */
import {
  type ColumnDefinitionBuilder,
  type Dialect,
  DummyDriver,
  Kysely,
  type RawBuilder,
} from 'kysely'
import { InvalidArgumentError } from '../errors.js'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import type { ClaimRequest, Lease, NewRun, NewStep, Suspension } from './store.js'

export type FamilyName = 'sqlite' | 'postgres'

export interface SqlFamily {
  readonly name: FamilyName
  /** Column types for JSON values and instants. */
  readonly types: { json: 'text' | 'json'; timestamp: 'text' | 'timestamptz' }
  /** The LIMIT that means "no limit" (an OFFSET needs one). */
  readonly unboundedLimit: number
  /** A step's or log's `run_id` column: how children follow their run's deletion. */
  runReference(column: ColumnDefinitionBuilder): ColumnDefinitionBuilder
  /** Per-connection settings (SQLite pragmas); failures to apply one are tolerated. */
  prepare(db: Kysely<Database>): Promise<void>
  /**
   * Run `migrate` so that two processes migrating at once apply each version once: under an
   * advisory lock on PostgreSQL; on SQLite every statement is idempotent and autocommits
   * (a transaction held across awaits would deadlock two connections of one process).
   */
  withMigrationLock<T>(
    db: Kysely<Database>,
    migrate: (db: Kysely<Database>) => Promise<T>,
  ): Promise<T>
  /** Add a column to `durably_runs` unless it is there already (a migration met twice). */
  addRunColumn(
    db: Kysely<Database>,
    name: string,
    type: 'text' | 'integer' | 'json' | 'timestamptz',
  ): Promise<void>
  /** DDL that is not portable: delete cascades, for example. */
  extraSchema(db: Kysely<Database>, version: number): Promise<void>
  claimNextRun(db: Kysely<Database>, request: ClaimRequest): Promise<ClaimedRow | null>
  /**
   * Complete a run without a concurrency key and claim the next in one statement, where the
   * family can (`RunQueue.completeRunAndClaim`). `'collided'` when the claim met another on a
   * concurrency slot: the statement did nothing, and the completion goes alone.
   */
  completeAndClaim?(
    db: Kysely<Database>,
    lease: Lease,
    output: string | null,
    request: ClaimRequest,
  ): Promise<{ completed: boolean; next: ClaimedRow | null; claimAgain: boolean } | 'collided'>
  commitStep(db: Kysely<Database>, lease: Lease, step: NewStep): Promise<boolean>
  suspendRun(db: Kysely<Database>, lease: Lease, suspension: Suspension): Promise<boolean>
  /**
   * The JSON array of `json`'s values at `keys` (a JSON array of names), as text: the
   * correlation `match` is compared by. Used on both sides of every comparison.
   */
  correlation(json: RawBuilder<unknown>, keys: RawBuilder<unknown>): RawBuilder<string>
  /** A subquery of the given strings, for `x NOT IN (…)`. */
  textList(values: readonly string[]): RawBuilder<string>
  /** The earliest `available_at` after `now` of a pending run of these jobs (ISO), or null. */
  nextWakeAt(db: Kysely<Database>, jobNames: readonly string[], now: string): Promise<string | null>
  /** Insert all rows in one statement; rows whose idempotency key exists are skipped. */
  insertRuns(db: Kysely<Database>, runs: readonly NewRun[]): Promise<RunRow[]>
  /** Read back a JSON column (text on SQLite, already parsed on PostgreSQL). */
  readJson(value: unknown): unknown
  /** Read back an instant as an ISO-8601 string. */
  readTime(value: unknown): string
  /**
   * The instant a heartbeat records. A lease is judged by one clock: on SQLite (one machine)
   * the caller's `now`; on PostgreSQL the database's `now()`, so machines whose clocks
   * disagree still agree on which leases are fresh.
   */
  leaseTime(now: string): string | RawBuilder<string>
  /** The database's clock (ms since the epoch) where it keeps the time; null on SQLite. */
  databaseTime(db: Kysely<Database>): Promise<number | null>
  /** Whether an error is transient contention worth retrying (SQLite busy, PostgreSQL deadlock). */
  isBusy(error: unknown): boolean
  /** Whether an error means the connection itself was lost (server restart, terminated backend). */
  isConnectionLost(error: unknown): boolean
}

/**
 * Which SQL family a dialect speaks, decided from what its query compiler produces rather
 * than from class names (which bundlers and minifiers rewrite). No connection is opened.
 * A dialect that is neither (MySQL's `?`-less backticks, MSSQL's `@1`) is refused here,
 * rather than failing later on SQL it does not speak.
 */
export function detectFamily(dialect: Dialect): FamilyName {
  const probe = new Kysely<Database>({
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => dialect.createIntrospector(db),
      createQueryCompiler: () => dialect.createQueryCompiler(),
    },
  })
  const { sql } = probe.selectFrom('durably_runs').select('id').where('id', '=', 'x').compile()
  // Both families quote identifiers with double quotes; they differ in placeholders.
  if (/"durably_runs"/.test(sql) && /= \$1$/.test(sql)) return 'postgres'
  if (/"durably_runs"/.test(sql) && /= \?$/.test(sql)) return 'sqlite'
  throw new InvalidArgumentError(
    `createDurably: unsupported dialect ${dialect.constructor?.name ?? 'object'} (it compiles ` +
      `${JSON.stringify(sql)}); durably speaks SQLite and PostgreSQL. If this dialect is one of ` +
      `them behind a wrapper, pass family: 'sqlite' or 'postgres'`,
  )
}

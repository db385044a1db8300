/**
 * What differs between SQL families. The Kysely store writes portable statements itself and
 * asks the family only for what must differ: column types, the claim, the fenced step
 * commit, the one-statement batch insert, the migration lock and how values come back.
 */
import type { Kysely } from 'kysely'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import type { ClaimRequest, Lease, NewRun, NewStep } from './store.js'

export type FamilyName = 'sqlite' | 'postgres'

export interface SqlFamily {
  readonly name: FamilyName
  /** Column types for JSON values and instants. */
  readonly types: { json: 'text' | 'json'; timestamp: 'text' | 'timestamptz' }
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
  /** DDL that is not portable: delete cascades, for example. */
  extraSchema(db: Kysely<Database>, version: number): Promise<void>
  claimNextRun(db: Kysely<Database>, request: ClaimRequest): Promise<ClaimedRow | null>
  commitStep(db: Kysely<Database>, lease: Lease, step: NewStep): Promise<boolean>
  /** Insert all rows in one statement; rows whose idempotency key exists are skipped. */
  insertRuns(db: Kysely<Database>, runs: readonly NewRun[]): Promise<RunRow[]>
  /** Read back a JSON column (text on SQLite, already parsed on PostgreSQL). */
  readJson(value: unknown): unknown
  /** Read back an instant as an ISO-8601 string. */
  readTime(value: unknown): string
  /** Whether an error is transient contention worth retrying (SQLite busy, PostgreSQL deadlock). */
  isBusy(error: unknown): boolean
  /** Whether an error means the connection itself was lost (server restart, terminated backend). */
  isConnectionLost(error: unknown): boolean
  /** Whether an error is the database refusing a duplicate in a unique index. */
  isUniqueViolation(error: unknown): boolean
}

/**
 * Opening the storage layer for a dialect: decide its SQL family, wrap libSQL's driver for
 * busy recovery, build the Kysely instance and the store (statements, then the layer that
 * turns driver failures into `DatabaseError`s), and describe how to listen for work where
 * the family can. `createDurably` imports nothing else from store/ but types.
 */
import { type Dialect, Kysely } from 'kysely'
import { InvalidArgumentError } from '../errors.js'
import type { BackoffPolicy } from '../retry.js'
import { detectFamily, type FamilyName, type SqlFamily } from './family.js'
import { createKyselyStore } from './kysely-store.js'
import { withLibsqlRecovery } from './libsql-recovery.js'
import { postgresFamily } from './postgres-family.js'
import {
  guardPoolConnections,
  type ListenPool,
  listenForWork,
  type WorkListener,
} from './postgres-listener.js'
import { withDatabaseErrors } from './resilient.js'
import type { Database } from './schema.js'
import { sqliteFamily } from './sqlite-family.js'
import type { Store } from './store.js'

export interface OpenStoreOptions {
  family?: FamilyName
  listen?: ListenPool
  now: () => number
}

export interface ListenHooks {
  onWork(): void
  onError(error: unknown): void
  retry: BackoffPolicy
}

export interface OpenedStore {
  db: Kysely<Database>
  store: Store
  /** Present where other processes can announce work (PostgreSQL with `listen`). */
  listen?: (hooks: ListenHooks) => WorkListener
}

export function openStore(dialect: Dialect, options: OpenStoreOptions): OpenedStore {
  const family: SqlFamily =
    (options.family ?? detectFamily(dialect)) === 'postgres' ? postgresFamily : sqliteFamily
  const pool = options.listen
  if (pool && family !== postgresFamily) {
    throw new InvalidArgumentError(
      'createDurably: "listen" needs a PostgreSQL dialect (LISTEN/NOTIFY is PostgreSQL-only)',
    )
  }
  if (pool) guardPoolConnections(pool)
  const recoverable = family === sqliteFamily ? withLibsqlRecovery(dialect) : undefined
  const db = new Kysely<Database>({ dialect: recoverable ?? dialect })
  const recover = async () => {
    if (recoverable && (await recoverable.recover())) await family.prepare(db)
  }
  const store = withDatabaseErrors(createKyselyStore(db, family), family, recover, options.now)
  return {
    db,
    store,
    ...(pool ? { listen: (hooks: ListenHooks) => listenForWork(pool, hooks) } : {}),
  }
}

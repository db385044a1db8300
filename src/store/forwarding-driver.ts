/**
 * A Kysely driver that hands every call to another one, optional savepoints included, so a
 * wrapper that changes one thing (libSQL's busy recovery, PostgreSQL's prepared statements)
 * leaves `durably.db` with all of Kysely's transaction features. A wrapper that hands out
 * connections of its own gives the inner driver back the inner connection (`unwrap`).
 */
import type { DatabaseConnection, Driver, QueryCompiler, TransactionSettings } from 'kysely'

export class ForwardingDriver implements Driver {
  constructor(protected readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init()
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return this.inner.acquireConnection()
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(this.unwrap(connection), settings)
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(this.unwrap(connection))
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(this.unwrap(connection))
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.savepoint) throw unsupported('savepoint')
    return this.inner.savepoint(this.unwrap(connection), name, compileQuery)
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.rollbackToSavepoint) throw unsupported('rollbackToSavepoint')
    return this.inner.rollbackToSavepoint(this.unwrap(connection), name, compileQuery)
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.releaseSavepoint) throw unsupported('releaseSavepoint')
    return this.inner.releaseSavepoint(this.unwrap(connection), name, compileQuery)
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(this.unwrap(connection))
  }

  destroy(): Promise<void> {
    return this.inner.destroy()
  }

  /** The inner driver's connection behind one this driver handed out. */
  protected unwrap(connection: DatabaseConnection): DatabaseConnection {
    return connection
  }
}

// The same words Kysely uses when a driver lacks the method, so behaviour matches unwrapped.
function unsupported(method: string): Error {
  return new Error(`The \`${method}\` method is not supported by this driver`)
}

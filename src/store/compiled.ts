/**
 * Hot statements compiled once: a statement is built with named placeholders where its values
 * go, compiled by the database's own Kysely instance the first time it runs there, and from
 * then on executed as the same SQL text with the values put in the placeholders' places.
 * Building and compiling a Kysely query costs more than a fast statement takes to run, and
 * the claim, step commits, heartbeats and completions run once per run or step. Each execution
 * is marked as a hot statement (`isHotStatement`), so a driver that can keep it prepared on the
 * server does (PostgreSQL: postgres-prepared.ts), and its text is known as hot (`isHotSql`) to
 * what sees only texts (statement-cache.ts, for SQLite databases shaped like better-sqlite3).
 */
import { CompiledQuery, type Kysely, type QueryResult } from 'kysely'
import type { Database } from './schema.js'

/** Where a named value goes; stands in for the value itself while the statement is built. */
class Placeholder {
  constructor(readonly name: string) {}
}

/**
 * Hands out placeholders typed as the values they stand for, so they fit wherever the value
 * would (a query builder's `set`, `where`, or a `sql` template). Only the value's identity is
 * kept: a placeholder must go where Kysely makes one parameter of a value, not inside an
 * expression it would look into (an array for `in`, say).
 */
export type Slots<P> = <K extends keyof P & string>(name: K) => P[K]

interface Compiled<P> {
  sql: string
  bind(values: P): unknown[]
}

/**
 * A statement of values `P` returning rows `R`: `build` returns the compiled query of the
 * statement for `db`, with `slot(name)` wherever a value goes. Compiled once per Kysely
 * instance (and per shape, for statements whose text depends on the values: `shapeOf`).
 */
export function compiledStatement<P extends object, R = unknown>(
  build: (db: Kysely<Database>, slot: Slots<P>, values: P) => CompiledQuery<R>,
  shapeOf: (values: P) => string = () => '',
): (db: Kysely<Database>, values: P) => Promise<QueryResult<R>> {
  const cache = new WeakMap<Kysely<Database>, Map<string, Compiled<P>>>()
  return (db, values) => {
    let shapes = cache.get(db)
    if (!shapes) {
      shapes = new Map()
      cache.set(db, shapes)
    }
    const shape = shapeOf(values)
    let compiled = shapes.get(shape)
    if (!compiled) {
      // Statements of many shapes (a browser's list of live owners, say) are not all kept.
      if (shapes.size >= MAX_SHAPES) shapes.clear()
      compiled = compile(build(db, placeholder as Slots<P>, values))
      shapes.set(shape, compiled)
      rememberHotText(compiled.sql)
    }
    return db.executeQuery<R>(hot(CompiledQuery.raw(compiled.sql, compiled.bind(values))))
  }
}

const HOT = Symbol('durably.hotStatement')

function hot<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  // Kysely freezes a compiled query; the mark goes on a copy, which Kysely hands to the
  // driver's connection as it is.
  return { ...query, [HOT]: true } as CompiledQuery<R>
}

/** Whether a query a driver is asked to run is one of the compiled hot statements. */
export function isHotStatement(query: CompiledQuery<unknown>): boolean {
  return (query as { [HOT]?: boolean })[HOT] === true
}

const MAX_SHAPES = 64

/** The texts of the hot statements compiled so far (forgotten all at once past a bound). */
const hotTexts = new Set<string>()
const MAX_HOT_TEXTS = 1024

function rememberHotText(text: string): void {
  if (hotTexts.size >= MAX_HOT_TEXTS) hotTexts.clear()
  hotTexts.add(text)
}

/** Whether a statement text is one of the compiled hot statements'. */
export function isHotSql(text: string): boolean {
  return hotTexts.has(text)
}

const placeholder = (name: string) => new Placeholder(name)

function compile<P>(query: CompiledQuery<unknown>): Compiled<P> {
  const parameters = [...query.parameters]
  return {
    sql: query.sql,
    bind: (values) =>
      parameters.map((parameter) =>
        parameter instanceof Placeholder
          ? (values as Record<string, unknown>)[parameter.name]
          : parameter,
      ),
  }
}

/**
 * A database (better-sqlite3 or libSQL's own `Database`) whose `prepare` calls are counted
 * per text: what a test reads to see which statements durably prepared, and how often.
 */
export function countPrepares<D extends { prepare(text: string): unknown }>(database: D) {
  const prepared = new Map<string, number>()
  const counted = new Proxy(database, {
    get(target, property) {
      if (property === 'prepare') {
        return (text: string) => {
          prepared.set(text, (prepared.get(text) ?? 0) + 1)
          return target.prepare(text)
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { counted, prepared }
}

/**
 * The JSON rules for everything durably stores: inputs, step outputs and run outputs.
 * A step must return on its first execution exactly what it will return on replay, so
 * values are round-tripped through JSON, and a value JSON would silently change (BigInt,
 * functions, Map/Set, NaN, cycles) is refused with an error saying what and where.
 */
import { SerializationError } from './errors.js'

/**
 * The type of a value after its JSON round trip: what a step returns, on its first execution
 * and on replay alike. A `Date` becomes a string (its `toJSON`), functions and symbols vanish
 * from objects, and what JSON refuses at the top level (a function, a BigInt) is `never`, so
 * the compiler catches `step.run('t', () => new Date()).getTime()`.
 */
export type Jsonify<T> = T extends { toJSON(...args: never[]): infer J }
  ? Jsonify<J>
  : // biome-ignore lint/suspicious/noConfusingVoidType: a step body that returns nothing is typed void
    T extends string | number | boolean | null | undefined | void
    ? T
    : T extends bigint | symbol | ((...args: never[]) => unknown)
      ? never
      : T extends readonly (infer U)[]
        ? JsonifyItem<U>[]
        : T extends ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>
          ? never
          : T extends object
            ? { [K in keyof T as K extends symbol ? never : JsonKey<T, K>]: Jsonify<T[K]> }
            : never

/** In an array, what JSON cannot carry becomes null. */
type JsonifyItem<U> = U extends undefined | symbol | ((...args: never[]) => unknown)
  ? null
  : Jsonify<U>

/** An object property JSON drops (a function, a symbol) is gone from the type too. */
type JsonKey<T, K extends keyof T> = T[K] extends symbol | ((...args: never[]) => unknown)
  ? never
  : K

export function toJson(value: unknown, subject: string): string | null {
  if (value === undefined) return null
  let text: string | undefined
  try {
    text = JSON.stringify(value, function refuseLossy(this: unknown, key: string, item: unknown) {
      const where = key === '' ? 'at the top level' : `at key "${key}"`
      switch (typeof item) {
        case 'bigint':
          throw new SerializationError(
            `${subject} contains a BigInt ${where}; JSON cannot carry it`,
          )
        case 'function':
        case 'symbol':
          throw new SerializationError(
            `${subject} contains a ${typeof item} ${where}; JSON cannot carry it`,
          )
        case 'number':
          if (!Number.isFinite(item)) {
            throw new SerializationError(
              `${subject} contains ${String(item)} ${where}; JSON would turn it into null`,
            )
          }
          return item
        case 'object':
          if (item instanceof Map || item instanceof Set) {
            throw new SerializationError(
              `${subject} contains a ${item instanceof Map ? 'Map' : 'Set'} ${where}; JSON would turn it into {}`,
            )
          }
          return item
        default:
          return item
      }
    })
  } catch (error) {
    if (error instanceof SerializationError) throw error
    throw new SerializationError(
      `${subject} cannot be stored as JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    )
  }
  return text === undefined ? null : text
}

/** Stored JSON text back to its value; SQL NULL (no value) is `undefined`. Throws on bad text. */
export function parseJsonText(text: unknown): unknown {
  return text === null || text === undefined ? undefined : JSON.parse(String(text))
}

/** The value as it will look after a store-and-load: what replay will return. */
export function roundTrip<T>(value: T, subject: string): { json: string | null; value: T } {
  const json = toJson(value, subject)
  return { json, value: (json === null ? undefined : JSON.parse(json)) as T }
}

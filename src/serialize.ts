/**
 * The JSON rules for everything durably stores: inputs, step outputs and run outputs.
 * A step must return on its first execution exactly what it will return on replay, so
 * values are round-tripped through JSON, and a value JSON would silently change (BigInt,
 * functions, Map/Set, NaN, cycles) is refused with an error saying what and where.
 */
import { SerializationError } from './errors.js'

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

export function fromJson(text: string | null | undefined, subject: string): unknown {
  if (text === null || text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new SerializationError(`${subject} holds malformed JSON: ${(error as Error).message}`, {
      cause: error,
    })
  }
}

/** The value as it will look after a store-and-load: what replay will return. */
export function roundTrip<T>(value: T, subject: string): { json: string | null; value: T } {
  const json = toJson(value, subject)
  return { json, value: (json === null ? undefined : JSON.parse(json)) as T }
}

/**
 * The jobs an instance knows: definitions by name, handles by name and by the key they were
 * registered under. A registration is checked whole before anything is recorded, so a
 * rejected call registers nothing.
 */
import { ConflictError, InvalidArgumentError } from './errors.js'
import { type AnyJobDefinition, assertJobDefinition, type JobHandle } from './job.js'

type AnyHandle = JobHandle<string, never, unknown>

export interface Registry {
  /** Check and record `jobs`; returns every handle registered so far, by key. */
  register(jobs: unknown): Record<string, AnyHandle>
  definitionOf(name: string): AnyJobDefinition | undefined
  handleOf(name: string): AnyHandle | undefined
  /** Every handle by register key (a fresh object each call). */
  handlesByKey(): Record<string, AnyHandle>
  /** Names of the registered jobs: what the worker claims. */
  jobNames(): readonly string[]
  /** The registered definitions, in registration order. */
  definitions(): readonly AnyJobDefinition[]
}

/**
 * @param reserved keys a job may not take, since the register view carries them already
 * @param createHandle builds the handle of a newly registered definition
 */
export function createRegistry(
  reserved: ReadonlySet<string>,
  createHandle: (definition: AnyJobDefinition) => AnyHandle,
): Registry {
  const definitions = new Map<string, AnyJobDefinition>()
  const byKey: Record<string, AnyHandle> = {}
  const byName = new Map<string, AnyHandle>()
  let names: readonly string[] = []
  let all: readonly AnyJobDefinition[] = []

  return {
    register(jobs) {
      if (!jobs || typeof jobs !== 'object' || Array.isArray(jobs)) {
        throw new InvalidArgumentError(
          'register: expected an object of job definitions, keyed by handle name',
        )
      }
      const accepted: [string, AnyJobDefinition][] = []
      for (const [key, definition] of Object.entries(jobs)) {
        assertJobDefinition(definition, `register("${key}")`)
        if (reserved.has(key)) {
          throw new InvalidArgumentError(
            `register: the key "${key}" is a durably member; register the job under another key`,
          )
        }
        const known = definitions.get(definition.name)
        if (known && known !== definition) {
          throw new ConflictError(
            `register: a different job named "${definition.name}" is already registered`,
          )
        }
        const existing = byKey[key]
        if (existing && existing.name !== definition.name) {
          throw new ConflictError(`register: the key "${key}" already holds job "${existing.name}"`)
        }
        accepted.push([key, definition])
      }
      for (const [key, definition] of accepted) {
        if (!definitions.has(definition.name)) {
          definitions.set(definition.name, definition)
          byName.set(definition.name, createHandle(definition))
        }
        byKey[key] = byName.get(definition.name)!
      }
      names = [...definitions.keys()]
      all = [...definitions.values()]
      return { ...byKey }
    },
    definitionOf: (name) => definitions.get(name),
    handleOf: (name) => byName.get(name),
    handlesByKey: () => ({ ...byKey }),
    jobNames: () => names,
    definitions: () => all,
  }
}

/**
 * Sending what waiting runs wait for: `sendEvent` to every run waiting for an event name,
 * `signal` to one run (a per-run mailbox: kept until the run waits for it). Each is one
 * insert; the database wakes the matching runs inside that statement (see the families'
 * triggers), and this process's worker is woken at once.
 */

import { type Core, isoNow } from './engine/core.js'
import { checkEventName } from './engine/waits.js'
import { ConflictError, InvalidArgumentError, NotFoundError, rejectUnknownKeys } from './errors.js'
import { toJson } from './serialize.js'
import { isTerminal } from './types.js'

export interface SendOptions {
  /**
   * The event's id, unique across events: sending twice with one id stores and wakes once
   * (a webhook delivered twice). A fresh id by default.
   */
  id?: string
}

export interface SentEvent {
  /** The stored event's id. */
  id: string
  /** `true` when an event with this id had been sent before: nothing new was stored. */
  duplicate: boolean
}

export interface Sender {
  sendEvent(event: string, data: unknown, options?: SendOptions): Promise<SentEvent>
  signal(runId: string, name: string, data: unknown, options?: SendOptions): Promise<SentEvent>
}

const SEND_OPTION_KEYS = ['id'] as const satisfies readonly (keyof SendOptions)[]

export function createSender(core: Core): Sender {
  async function send(
    where: string,
    event: string,
    data: unknown,
    options: SendOptions | undefined,
    targetRunId: string | null,
  ): Promise<SentEvent> {
    const id = checkSendOptions(options, where) ?? core.newId()
    // A wait resolves with the data, or null on timeout: null data would read as a timeout.
    if (data === null || data === undefined) {
      throw new InvalidArgumentError(
        `${where}: data is required and may not be null (a wait reads null as its timeout); send {} for none`,
      )
    }
    const json = toJson(data, `${where}: data`) ?? 'null'
    const created = await core.store.insertEvent({
      id,
      name: event,
      data: json,
      targetRunId,
      createdAt: isoNow(core),
    })
    core.emitter.emit({ type: 'event:send', eventId: id, event, targetRunId, duplicate: !created })
    if (created) core.wake()
    return { id, duplicate: !created }
  }

  return {
    async sendEvent(event, data, options) {
      const where = `sendEvent("${String(event)}")`
      checkEventName(event, 'sendEvent')
      await core.ready()
      return send(where, event, data, options, null)
    },

    async signal(runId, name, data, options) {
      const where = `signal(${JSON.stringify(runId)}, "${String(name)}")`
      if (typeof runId !== 'string' || runId.length === 0) {
        throw new InvalidArgumentError(`${where}: a run id (non-empty string) is required`)
      }
      checkEventName(name, where)
      await core.ready()
      const run = await core.store.getRun(runId)
      if (!run) throw new NotFoundError(`${where}: run ${runId} not found`)
      if (isTerminal(run.status)) {
        throw new ConflictError(`${where}: run ${runId} is ${run.status}; it waits for nothing`)
      }
      return send(where, name, data, options, runId)
    },
  }
}

function checkSendOptions(options: SendOptions | undefined, where: string): string | undefined {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`${where}: options must be an object`)
  }
  rejectUnknownKeys(options, SEND_OPTION_KEYS, where)
  const { id } = options
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 1024)) {
    throw new InvalidArgumentError(
      `${where}: id must be a non-empty string of at most 1024 characters`,
    )
  }
  return id
}

/**
 * `withLogPersistence()`: every `log:write` event is stored in `durably_logs`, readable with
 * `durably.getLogs(runId)` (and `GET /logs` through the HTTP handler).
 */
import type { Durably, DurablyPlugin } from '../durably.js'
import { errorMessage } from '../errors.js'
import { toJson } from '../serialize.js'

export const LOG_PERSISTENCE_PLUGIN = 'log-persistence'

export function withLogPersistence(): DurablyPlugin {
  return {
    name: LOG_PERSISTENCE_PLUGIN,
    install(durably: Durably) {
      // The event sequence orders logs written in one millisecond; the suffix keeps ids from
      // two processes apart.
      const suffix = crypto.randomUUID().slice(0, 8)
      durably.on('log:write', (event) => {
        durably.storage
          .insertLog({
            id: `${String(event.sequence).padStart(12, '0')}-${suffix}`,
            runId: event.runId,
            stepName: event.stepName,
            level: event.level,
            message: event.message,
            data: event.data === undefined ? null : toJson(event.data, 'Log data'),
            createdAt: event.timestamp,
          })
          .catch((error: unknown) =>
            durably.emit({
              type: 'worker:error',
              error: errorMessage(error),
              context: 'log-persistence',
              runId: event.runId,
            }),
          )
      })
    },
  }
}

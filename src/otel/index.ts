/**
 * durably/otel: OpenTelemetry traces for durably runs. Its own entry point, so
 * `@opentelemetry/api` (an optional peer) is loaded only by those who import it.
 * Public exports only; read `plugin.ts` next.
 */
export {
  type OpenTelemetryOptions,
  OTEL_PLUGIN,
  SPAN_ATTRIBUTES,
  type StretchOutcome,
  withOpenTelemetry,
} from './plugin.js'

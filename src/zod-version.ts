/**
 * Which zod a schema comes from. durably's peer is zod 4 (its types, `z.toJSONSchema` for the
 * dashboard, its issue shape), but npm installs a zod 3 forced past the peer range (with
 * `--force` or `--legacy-peer-deps`) without complaint, and a zod 3 schema still has
 * `safeParseAsync`: it would pass the shape check and fail later, far from the mistake. So
 * `defineJob` asks each schema where it comes from and names the version it was given.
 */
import { InvalidArgumentError } from './errors.js'

const REQUIRED_MAJOR = 4

/** What a schema says of its origin: zod 4 stamps `_zod.version`; zod 3 has only `_def`. */
interface SchemaMarks {
  _zod?: { version?: { major?: unknown; minor?: unknown; patch?: unknown } }
  _def?: { typeName?: unknown }
}

/**
 * Throw an `InvalidArgumentError` when `schema` is not a zod 4 schema, naming what it is
 * instead. Anything without zod's marks at all is left to the caller's own shape check.
 */
export function assertZod4Schema(schema: unknown, where: string): void {
  if (!schema || (typeof schema !== 'object' && typeof schema !== 'function')) return
  const marks = schema as SchemaMarks
  const version = marks._zod?.version
  if (version) {
    if (version.major === REQUIRED_MAJOR) return
    throw new InvalidArgumentError(
      `${where} is a zod ${[version.major, version.minor, version.patch].join('.')} schema; ${NEEDS}`,
    )
  }
  if (marks._zod === undefined && marks._def && typeof marks._def === 'object') {
    // zod 3 carries no version number; `_def.typeName` ("ZodObject") is its mark.
    const typeName = typeof marks._def.typeName === 'string' ? ` (${marks._def.typeName})` : ''
    throw new InvalidArgumentError(
      `${where} is a zod 3 schema${typeName}: it has "_def" but no "_zod"; ${NEEDS}`,
    )
  }
}

const NEEDS = 'durably needs zod 4 (peer dependency "zod": "^4.0.0"): install zod@^4'

/**
 * durably/react is an entry of its own: built by tsup and exported as ./react, ESM and
 * CommonJS each with their types. A build config that loses the entry fails here, before a
 * user's import of 'durably/react' would.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import config from '../../tsup.config.js'

const ROOT = join(import.meta.dirname, '..', '..')

describe('the durably/react entry', () => {
  it('is built by tsup, with React left to the app', () => {
    const builds = Array.isArray(config) ? config : [config]
    const build = builds.find(
      (options) =>
        typeof options === 'object' &&
        !Array.isArray(options.entry) &&
        (options.entry as Record<string, string> | undefined)?.react === 'src/react/index.ts',
    )
    expect(build, 'a tsup build with the entry react: src/react/index.ts').toBeDefined()
    expect(build && 'format' in build ? build.format : undefined).toEqual(['esm', 'cjs'])
    expect(build && 'external' in build ? build.external : []).toContain('react')
  })

  it('is exported as ./react for import and require, each with its types', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>
    }
    expect(pkg.exports['./react']).toEqual({
      import: { types: './dist/react.d.ts', default: './dist/react.js' },
      require: { types: './dist/react.d.cts', default: './dist/react.cjs' },
    })
  })

  it('has react as an optional peer dependency', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
      dependencies: Record<string, string>
    }
    expect(pkg.peerDependencies.react).toBe('^18.0.0 || ^19.0.0')
    expect(pkg.peerDependenciesMeta.react?.optional).toBe(true)
    expect(pkg.dependencies.react).toBeUndefined()
  })
})

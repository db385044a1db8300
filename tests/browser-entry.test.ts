/**
 * The package's one entry runs in browsers too: nothing under src/ may import a Node
 * built-in (the e2e test then proves a Vite app can import it and work). The one exception
 * is src/cli/, the `durably` command: a separate build entry (dist/cli.js, platform node)
 * that the package's entry never imports, which the second test holds true.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  )
}

const CLI = join('src', 'cli')

it('no source file outside src/cli imports a node: built-in or a Node-only driver', () => {
  const offenders = sourceFiles('src')
    .filter((file) => !file.startsWith(`${CLI}/`))
    .filter((file) =>
      /from ['"](node:|fs['"]|path['"]|pg['"]|@libsql\/client|better-sqlite3)/.test(
        readFileSync(file, 'utf8'),
      ),
    )
  expect(offenders).toEqual([])
})

it('no source file outside src/cli imports from src/cli', () => {
  const offenders = sourceFiles('src')
    .filter((file) => !file.startsWith(`${CLI}/`))
    .filter((file) => /from ['"][./]*\/cli\//.test(readFileSync(file, 'utf8')))
  expect(offenders).toEqual([])
})

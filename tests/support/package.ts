/** Running commands and packing this package, for the tests that install it into new apps. */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'

export const ROOT = join(import.meta.dirname, '..', '..')

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command without throwing on a non-zero exit; npm's own variables are not passed on. */
export function exec(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')),
  )
  return new Promise<Result>((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { ...inherited, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** npm quiet and with its cache inside `temp`, so a test never touches the user's. */
export function npmEnvIn(temp: string): NodeJS.ProcessEnv {
  return {
    npm_config_cache: join(temp, 'npm-cache'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  }
}

/**
 * Build (unless `dist` has every entry already: CI builds before testing) and pack this
 * package into `temp`; the tarball's path and the files it holds.
 */
export async function packDurably(
  temp: string,
  npmEnv: NodeJS.ProcessEnv,
): Promise<{ tarball: string; files: string[] }> {
  if (!['index.js', 'react.js'].every((entry) => existsSync(join(ROOT, 'dist', entry)))) {
    const build = await exec('npm', ['run', 'build'], ROOT, npmEnv)
    expect(build.code, build.stdout + build.stderr).toBe(0)
  }
  const pack = await exec('npm', ['pack', '--json', '--pack-destination', temp], ROOT, npmEnv)
  expect(pack.code, pack.stderr).toBe(0)
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[]
  return { tarball: join(temp, packed!.filename), files: packed!.files.map((file) => file.path) }
}

/** Whether SQLite refused a statement for a moment: another connection holds the lock. */
export function isSqliteBusy(error: unknown): boolean {
  const text = `${(error as { code?: unknown })?.code ?? ''} ${(error as Error)?.message ?? ''}`
  return /SQLITE_BUSY|SQLITE_LOCKED|database is locked|database table is locked/i.test(text)
}

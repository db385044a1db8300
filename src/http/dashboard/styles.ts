/** The dashboard's stylesheet: light and dark by `prefers-color-scheme`, cards on a phone. */
export const DASHBOARD_STYLES = `
:root {
  --bg: #f7f7f8; --panel: #ffffff; --text: #1c1d21; --muted: #5d6270; --line: #dcdee3;
  --accent: #2f5fd0; --accent-text: #ffffff; --focus: #f0a500;
  --pending: #6b6f7b; --running: #2f5fd0; --completed: #1f7a46; --failed: #b3261e; --cancelled: #8a6100;
  --bar: #e6e8ee; --code: #f0f1f4;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #15161a; --panel: #1e2026; --text: #e8e9ed; --muted: #a3a8b5; --line: #343741;
    --accent: #7aa2ff; --accent-text: #10131a; --focus: #ffc94d;
    --pending: #a3a8b5; --running: #7aa2ff; --completed: #5fcf8e; --failed: #ff8a80; --cancelled: #e6b84d;
    --bar: #2c2f38; --code: #262830;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 8px; }
.skip:focus { left: 8px; z-index: 10; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: var(--panel);
  border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 16px; color: var(--text); text-decoration: none; }
.top nav { display: flex; gap: 4px; }
.top nav a { padding: 6px 10px; border-radius: 6px; text-decoration: none; color: var(--muted); }
.top nav a[aria-current="page"] { background: var(--bg); color: var(--text); font-weight: 600; }
.live { margin-left: auto; font-size: 12px; color: var(--muted); }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  background: var(--pending); margin-right: 6px; vertical-align: middle; }
.live[data-state="live"]::before { background: var(--completed); }
.live[data-state="idle"]::before { display: none; }
main { padding: 16px 20px 40px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h1 { font-size: 20px; margin: 4px 0 12px; word-break: break-all; }
h2 { font-size: 15px; margin: 20px 0 8px; }
.muted { color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; margin-bottom: 12px; }
.filters label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
input, select, textarea, button { font: inherit; color: var(--text); }
input, select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
textarea { width: 100%; min-height: 96px; resize: vertical; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
button { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; cursor: pointer; }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
button.danger { color: var(--failed); border-color: var(--failed); }
button:disabled { opacity: .45; cursor: not-allowed; }
table.runs { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.runs th, .runs td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
.runs th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--bg); }
.runs tr:last-child td { border-bottom: 0; }
.runs td.id a { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.runs .payload { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted);
  max-width: 30ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; margin-top: 2px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.badge[data-status="pending"] { color: var(--pending); }
.badge[data-status="running"] { color: var(--running); }
.badge[data-status="completed"] { color: var(--completed); }
.badge[data-status="failed"] { color: var(--failed); }
.badge[data-status="cancelled"] { color: var(--cancelled); }
.progress { min-width: 140px; }
.bar { height: 8px; background: var(--bar); border-radius: 4px; overflow: hidden; }
.bar > span { display: block; height: 100%; width: 0; background: var(--running); transition: width .2s; }
.progress[data-status="completed"] .bar > span { background: var(--completed); }
.progress[data-status="failed"] .bar > span { background: var(--failed); }
.progress[data-status="cancelled"] .bar > span { background: var(--cancelled); }
.progress .msg { font-size: 12px; color: var(--muted); margin-top: 2px; overflow-wrap: anywhere; }
.wait { font-size: 12px; color: var(--muted); margin-top: 3px; }
.pager { display: flex; gap: 10px; align-items: center; margin-top: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 8px 16px; }
.grid dt { font-size: 12px; color: var(--muted); }
.grid dd { margin: 0; overflow-wrap: anywhere; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin: 8px 0 4px; }
textarea[readonly] { min-height: 360px; background: var(--code); }
pre { background: var(--code); padding: 10px; border-radius: 6px; overflow: auto; max-height: 420px;
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12.5px; margin: 6px 0; }
.error-text { color: var(--failed); }
ol.timeline { list-style: none; padding: 0; margin: 0; }
.timeline li { display: grid; grid-template-columns: minmax(120px, 220px) 1fr 15em; gap: 10px; align-items: center;
  padding: 6px 0; border-bottom: 1px solid var(--line); }
.timeline li:last-child { border-bottom: 0; }
.timeline .track { position: relative; height: 10px; background: var(--bar); border-radius: 5px; }
.timeline .track > span { position: absolute; top: 0; bottom: 0; min-width: 3px; border-radius: 5px; background: var(--completed); }
.timeline li[data-status="failed"] .track > span { background: var(--failed); }
.timeline li[data-status="running"] .track > span { background: var(--running); }
.timeline .meta { font-size: 12px; color: var(--muted); white-space: nowrap; text-align: right; }
.timeline .err { grid-column: 1 / -1; color: var(--failed); font-size: 12.5px; overflow-wrap: anywhere; }
table.logs { width: 100%; border-collapse: collapse; font-size: 12.5px; }
.logs td, .logs th { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.logs code.data { display: block; color: var(--muted); font-size: 12px; overflow-wrap: anywhere; margin-top: 2px; }
.logs td.level[data-level="warn"] { color: var(--cancelled); }
.logs td.level[data-level="error"] { color: var(--failed); }
.jobs { display: grid; gap: 14px; grid-template-columns: repeat(auto-fill, minmax(min(100%, 400px), 1fr)); align-items: start; }
.job h2 { margin-top: 0; }
.issues { color: var(--failed); margin: 6px 0; padding-left: 18px; }
.toast { position: fixed; bottom: 16px; right: 16px; max-width: min(420px, calc(100% - 32px)); }
.toast:not(:empty) { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px;
  box-shadow: 0 4px 16px rgba(0,0,0,.2); }
dialog { background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: 10px; max-width: 420px; }
dialog::backdrop { background: rgba(0,0,0,.45); }
@media (max-width: 760px) {
  .top { padding: 8px 12px; gap: 10px; }
  main { padding: 12px; }
  table.runs, .runs tbody, .runs tr, .runs td { display: block; width: 100%; }
  .runs thead { display: none; }
  table.runs { background: transparent; border: 0; }
  .runs tr { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 10px; padding: 6px 0; }
  .runs td { border: 0; padding: 3px 12px; display: grid; grid-template-columns: 92px minmax(0, 1fr); gap: 8px; }
  .runs .payload { max-width: 100%; }
  .runs td::before { content: attr(data-label); font-size: 12px; color: var(--muted); }
  .timeline li { grid-template-columns: 1fr auto; }
  .timeline .meta { text-align: left; }
  .timeline .track { grid-column: 1 / -1; grid-row: 2; }
  .filters label, .filters form { flex: 1 1 140px; }
  .filters form label input { width: 100%; }
}
`

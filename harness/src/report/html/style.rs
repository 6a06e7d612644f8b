//! The one stylesheet of the HTML report and the dashboard, inlined in every page so a
//! report opens offline (mailed, attached to a CI job) exactly as the dashboard shows it.

/// Inlined in `<style>`. Outcome colours: pass green, fail red, lab fault amber, skipped
/// grey, config error purple, interrupted dark. Every coloured cell also carries its word,
/// so the colours are a help, never the only signal.
pub const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header.top { background: #1f2933; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; flex-wrap: wrap; }
header.top a { color: #cde; text-decoration: none; font-weight: 600; }
header.top a:hover { text-decoration: underline; }
main { padding: 16px 20px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 4px 0 12px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d5d9de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f3; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 0 0 12px; }
dl.facts dt { font-weight: 600; color: #52606d; }
dl.facts dd { margin: 0; }
.banner { padding: 10px 14px; margin: 8px 0 14px; border-radius: 4px; font-weight: 700; }
.banner.partial { background: #fff3cd; border: 2px solid #b7791f; color: #744210; }
.banner.config-error { background: #f3e8ff; border: 2px solid #6b21a8; color: #4c1d95; }
.outcome { display: inline-block; min-width: 5.5em; padding: 1px 6px; border-radius: 3px; font-weight: 600; text-align: center; text-decoration: none; margin: 1px 0; }
.outcome-pass { background: #2f855a; color: #fff; }
.outcome-fail { background: #c53030; color: #fff; }
.outcome-lab-fault { background: #d69e2e; color: #1b1f24; }
.outcome-skipped { background: #a0aec0; color: #1b1f24; }
.outcome-config-error { background: #6b46c1; color: #fff; }
.outcome-interrupted { background: #1a202c; color: #fff; }
.outcome-unknown { background: #fff; color: #1b1f24; border: 1px dashed #52606d; }
.outcome-none { color: #8a94a0; }
a.outcome:hover, a.outcome:focus { outline: 2px solid #2b6cb0; }
.health { font-weight: 600; }
.health-healthy { color: #2f855a; }
.health-recovered { color: #975a16; }
.health-bad { color: #c53030; }
.counts > span { margin-right: 10px; white-space: nowrap; display: inline-block; }
.counts .outcome { min-width: 0; }
table.matrix td { text-align: center; }
table.matrix th[scope=row] { text-align: left; }
pre { background: #fff; border: 1px solid #d5d9de; padding: 8px; overflow-x: auto; font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; white-space: pre; }
pre .add { background: #e6ffec; color: #116329; display: block; }
pre .del { background: #ffebe9; color: #82071e; display: block; }
pre .hunk { color: #6f42c1; display: block; }
details { margin: 6px 0; background: #fff; border: 1px solid #d5d9de; padding: 4px 8px; }
details summary { cursor: pointer; }
.changes li { margin: 1px 0; }
.newly-failing { color: #c53030; font-weight: 600; }
.newly-passing { color: #2f855a; font-weight: 600; }
.muted { color: #6b7785; }
.trend { display: flex; gap: 3px; flex-wrap: wrap; align-items: flex-end; }
.trend .outcome { min-width: 4.5em; font-size: 12px; }
.trend small { display: block; font-weight: 400; }
svg.sparkline { background: #fff; border: 1px solid #d5d9de; }
"#;

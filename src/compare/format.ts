// Text formatting shared by summary.md and report.html: escaping, and accuracy differences as
// signed percentage points with their intervals.

export const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A Markdown table cell: a literal `|` would end the cell. */
export const escapeTableCell = (s: string) => s.replace(/\|/g, '\\|');

/** A fraction as percent, e.g. 0.8123 → "81.2". */
export const percent = (x: number, digits = 1) => (x * 100).toFixed(digits);

/** A difference of fractions as signed percentage points, e.g. −0.003 → "−0.3". */
export const signedPercent = (x: number) => `${x >= 0 ? '+' : '−'}${percent(Math.abs(x))}`;

/** A 95 % interval of differences, e.g. "[−2.8, +2.2]"; "–" where there is none. */
export const formatInterval = (ci: readonly [number, number] | null) => (ci ? `[${signedPercent(ci[0])}, ${signedPercent(ci[1])}]` : '–');

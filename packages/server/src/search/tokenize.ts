/**
 * Search tokens for CJK and Latin text, the same on SQLite (FTS5) and PostgreSQL (tsvector).
 *
 * Chinese has no spaces, and FTS5's trigram tokenizer cannot find a 2-character word such as
 * 退款. So text is pre-tokenised here: runs of CJK characters become overlapping bigrams
 * (退款申请 → 退款 款申 申请), other letters/digits become lower-cased words. A query is turned
 * the same way into phrases of adjacent tokens, so 退款 matches exactly the messages that
 * contain it, and 申请退款 requires the three bigrams in order.
 */

// Han, Hiragana, Katakana, Hangul, CJK punctuation-free ranges.
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
// Letters/digits that are not CJK: `\p{L}` includes Han, so without the lookahead a Latin run
// would swallow the Chinese after it (我的order还没发货 → order还没发货).
const RUN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])[\p{L}\p{N}])+/gu;
const MAX_WORD = 64;

function runTokens(run: string): string[] {
  if (!CJK.test(run[0]!)) return [run.length > MAX_WORD ? run.slice(0, MAX_WORD) : run];
  const chars = [...run];
  if (chars.length === 1) return [chars[0]!];
  const out: string[] = [];
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
  return out;
}

/** Tokens of a text, in order, as one space-separated string (what the index stores). */
export function tokenize(text: string | null | undefined): string {
  if (!text) return '';
  const norm = text.normalize('NFKC').toLowerCase();
  const out: string[] = [];
  for (const m of norm.matchAll(RUN)) out.push(...runTokens(m[0]));
  return out.join(' ');
}

export interface SearchPlan {
  /** Phrases that must all match: each a list of adjacent tokens. */
  phrases: string[][];
  /** Single CJK characters: no index can find them inside longer runs; matched with LIKE. */
  singles: string[];
  /** The terms as typed (normalised), for highlighting. */
  terms: string[];
}

/** Turns a query into phrases: whitespace separates terms, every term must match. */
export function planQuery(q: string): SearchPlan {
  const norm = q.normalize('NFKC').toLowerCase();
  const plan: SearchPlan = { phrases: [], singles: [], terms: [] };
  for (const term of norm.split(/\s+/).filter(Boolean)) {
    const runs = [...term.matchAll(RUN)].map((m) => m[0]);
    if (runs.length === 0) continue;
    plan.terms.push(term);
    if (runs.length === 1 && [...runs[0]!].length === 1 && CJK.test(runs[0]!)) {
      plan.singles.push(runs[0]!);
      continue;
    }
    plan.phrases.push(runs.flatMap(runTokens));
  }
  return plan;
}

/** FTS5 MATCH expression: phrases ANDed, each quoted (tokens never contain quotes). */
export function toFts5(plan: SearchPlan): string {
  return plan.phrases.map((p) => `"${p.join(' ')}"`).join(' AND ');
}

/** PostgreSQL tsquery text: phrases with <-> (adjacent), ANDed. Tokens are letters/digits only. */
export function toTsquery(plan: SearchPlan): string {
  return plan.phrases.map((p) => (p.length === 1 ? p[0]! : `(${p.join(' <-> ')})`)).join(' & ');
}

const ESC: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => ESC[ch]!);

/**
 * An HTML-escaped snippet of `text` around the first match, every match of every term in
 * `<mark>`. Null when no term occurs literally (e.g. the match was across punctuation).
 */
export function snippet(text: string | null, terms: string[], width = 80): string | null {
  if (!text || terms.length === 0) return null;
  const lower = text.normalize('NFKC').toLowerCase();
  if (lower.length !== text.length) return null;
  const ranges: Array<[number, number]> = [];
  for (const term of terms) {
    let i = lower.indexOf(term);
    while (i !== -1 && ranges.length < 50) {
      ranges.push([i, i + term.length]);
      i = lower.indexOf(term, i + term.length);
    }
  }
  if (ranges.length === 0) return null;
  ranges.sort((a, b) => a[0] - b[0]);
  const first = ranges[0]![0];
  const start = Math.max(0, first - Math.floor(width / 3));
  const end = Math.min(text.length, start + width);
  let out = start > 0 ? '…' : '';
  let pos = start;
  for (const [a, b] of ranges) {
    if (a < pos || a >= end) continue;
    out += `${escapeHtml(text.slice(pos, a))}<mark>${escapeHtml(text.slice(a, Math.min(b, end)))}</mark>`;
    pos = Math.min(b, end);
  }
  out += escapeHtml(text.slice(pos, end)) + (end < text.length ? '…' : '');
  return out;
}

// Time windows named in a question, relative to a reference instant (UTC): "today", "yesterday", "this/last week"
// (weeks start on Monday), "this/last month", "this/last year", "last 3 days", "past 2 weeks", "in March 2024",
// "March 2024", "in March" (the latest March not in the future), "in 2024", "March 5, 2024", "5 March 2024",
// ISO dates ("2024-03-05") and months ("2024-03"). Each window is [from, to] in epoch ms, both inclusive.

export interface TimeWindow {
  fromMs: number;
  toMs: number;
  /** The words that named it. */
  phrase: string;
}

const DAY = 86_400_000;
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const MONTH_RE = String.raw`(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`;
const UNITS: Record<string, 'day' | 'week' | 'month' | 'year'> = { day: 'day', days: 'day', week: 'week', weeks: 'week', month: 'month', months: 'month', year: 'year', years: 'year' };
const NUMBER_WORDS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, twelve: 12 };

function monthIndex(name: string): number {
  return MONTHS.findIndex((m) => m.startsWith(name.toLowerCase().slice(0, 3)));
}

const startOfDay = (ms: number) => Math.floor(ms / DAY) * DAY;
const monthStart = (y: number, m: number) => Date.UTC(y, m, 1);
const monthWindow = (y: number, m: number, phrase: string): TimeWindow => ({ fromMs: monthStart(y, m), toMs: monthStart(y, m + 1) - 1, phrase });
const dayWindow = (ms: number, phrase: string): TimeWindow => ({ fromMs: startOfDay(ms), toMs: startOfDay(ms) + DAY - 1, phrase });

function validDay(y: number, m: number, d: number): number | undefined {
  const ms = Date.UTC(y, m, d);
  const dt = new Date(ms);
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m && dt.getUTCDate() === d ? ms : undefined;
}

/** Every time window the text names (in order of appearance, overlapping mentions kept once). */
export function parseTimeWindows(text: string, now: Date = new Date()): TimeWindow[] {
  const t = text.toLowerCase();
  const nowMs = now.getTime();
  const today = startOfDay(nowMs);
  const y = now.getUTCFullYear();
  const mo = now.getUTCMonth();
  const found: { at: number; end: number; w: TimeWindow }[] = [];
  const add = (m: RegExpMatchArray, w: TimeWindow | undefined) => {
    if (!w) return;
    const at = m.index!;
    const end = at + m[0].length;
    // a longer mention already covering this text wins ("march 5, 2024" over "march")
    if (found.some((f) => f.at <= at && f.end >= end)) return;
    for (let i = found.length - 1; i >= 0; i--) if (at <= found[i]!.at && end >= found[i]!.end) found.splice(i, 1);
    found.push({ at, end, w });
  };
  const scan = (re: RegExp, make: (m: RegExpMatchArray) => TimeWindow | undefined) => {
    for (const m of t.matchAll(re)) add(m, make(m));
  };

  scan(/\b(\d{4})-(\d{2})-(\d{2})\b/g, (m) => {
    const ms = validDay(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return ms === undefined ? undefined : dayWindow(ms, m[0]);
  });
  scan(/\b(\d{4})-(\d{2})\b(?!-\d)/g, (m) => (Number(m[2]) >= 1 && Number(m[2]) <= 12 ? monthWindow(Number(m[1]), Number(m[2]) - 1, m[0]) : undefined));
  scan(new RegExp(String.raw`\b${MONTH_RE}\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b`, 'g'), (m) => {
    const ms = validDay(Number(m[3]), monthIndex(m[1]!), Number(m[2]));
    return ms === undefined ? undefined : dayWindow(ms, m[0]);
  });
  scan(new RegExp(String.raw`\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?${MONTH_RE},?\s+(\d{4})\b`, 'g'), (m) => {
    const ms = validDay(Number(m[3]), monthIndex(m[2]!), Number(m[1]));
    return ms === undefined ? undefined : dayWindow(ms, m[0]);
  });
  scan(new RegExp(String.raw`\b${MONTH_RE}\s+(?:of\s+)?(\d{4})\b`, 'g'), (m) => monthWindow(Number(m[2]), monthIndex(m[1]!), m[0]));
  // "in March" without a year: the latest March that has begun
  scan(new RegExp(String.raw`\b(?:in|during|since|last)\s+${MONTH_RE}\b(?!\s+\d)`, 'g'), (m) => {
    const idx = monthIndex(m[1]!);
    if (m[1] === 'may' && !/^(in|during)\s/.test(m[0])) return undefined;
    return monthWindow(idx <= mo ? y : y - 1, idx, m[0]);
  });
  scan(/\b(?:in|during)\s+((?:19|20)\d{2})\b(?!-)/g, (m) => ({ fromMs: Date.UTC(Number(m[1]), 0, 1), toMs: Date.UTC(Number(m[1]) + 1, 0, 1) - 1, phrase: m[0] }));
  scan(/\btoday\b/g, (m) => dayWindow(nowMs, m[0]));
  scan(/\byesterday\b/g, (m) => dayWindow(today - DAY, m[0]));
  scan(/\b(this|last|past|previous)\s+(week|month|year)\b/g, (m) => {
    const last = m[1] !== 'this';
    if (m[2] === 'week') {
      const monday = today - ((new Date(today).getUTCDay() + 6) % 7) * DAY;
      const from = last ? monday - 7 * DAY : monday;
      return { fromMs: from, toMs: from + 7 * DAY - 1, phrase: m[0] };
    }
    if (m[2] === 'month') return last ? monthWindow(mo === 0 ? y - 1 : y, (mo + 11) % 12, m[0]) : monthWindow(y, mo, m[0]);
    const yr = last ? y - 1 : y;
    return { fromMs: Date.UTC(yr, 0, 1), toMs: Date.UTC(yr + 1, 0, 1) - 1, phrase: m[0] };
  });
  scan(/\b(?:last|past|previous)\s+(\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\s+(days?|weeks?|months?|years?)\b/g, (m) => {
    const n = /^\d+$/.test(m[1]!) ? Number(m[1]) : NUMBER_WORDS[m[1]!]!;
    const unit = UNITS[m[2]!]!;
    let from: number;
    if (unit === 'day') from = today - (n - 1) * DAY;
    else if (unit === 'week') from = today - (7 * n - 1) * DAY;
    else if (unit === 'month') from = Date.UTC(y, mo - n, now.getUTCDate());
    else from = Date.UTC(y - n, mo, now.getUTCDate());
    return { fromMs: from, toMs: nowMs, phrase: m[0] };
  });
  return found.sort((a, b) => a.at - b.at).map((f) => f.w);
}

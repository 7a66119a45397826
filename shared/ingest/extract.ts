// Entity extraction by simple, predictable heuristics (no model): e-mail addresses, URLs, hashtags, and people and
// organisations from spans of capitalised words. Organisations end in (or contain) a corporate or institutional word;
// people are two to four capitalised words, or a capitalised name after a title (Dr., Ms., ...). Sentence-initial
// function words and calendar words are stripped, so "When Ada Lovelace wrote" gives "Ada Lovelace".

export type ExtractedType = 'person' | 'organization' | 'email' | 'url' | 'hashtag';

export interface ExtractedEntity {
  type: ExtractedType;
  /** Identity within the type (emails and hashtags lowercased). */
  key: string;
  /** Display form (first spelling seen). */
  name: string;
  mentions: number;
}

const EMAIL = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g;
const URL = /\bhttps?:\/\/[^\s<>"'`{}|\\^\[\]]+/g;
const HASHTAG = /(?:^|[^\p{L}\p{N}_&#/])#(\p{L}[\p{L}\p{N}_-]{1,62})/gu;
// a title or an initial ("Dr.", "J."), else a capitalised word (inner apostrophe or hyphen); spans join such words
// with spaces and lowercase connectors ("Bank of England", "Ada and Charles")
const NAME_WORD = String.raw`(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof|Inc|Corp|Ltd|Co)\.|\p{Lu}\.(?=\s)|\p{Lu}[\p{Ll}\p{Lu}]*(?:['’-]\p{Lu}?\p{Ll}+)*)`;
const CAP_SPAN = new RegExp(String.raw`(?<![\p{L}\p{N}])${NAME_WORD}(?:[ \t]+(?:(?:of|for|and|the|de|van|von|der|da|&)[ \t]+)?${NAME_WORD})*`, 'gu');

const ORG_WORDS = new Set(
  [
    'inc', 'inc.', 'corp', 'corp.', 'corporation', 'company', 'co.', 'ltd', 'ltd.', 'llc', 'plc', 'gmbh', 'ag', 'sa',
    'university', 'institute', 'college', 'school', 'foundation', 'association', 'society', 'group', 'labs',
    'laboratory', 'laboratories', 'bank', 'agency', 'ministry', 'department', 'council', 'committee', 'commission',
    'systems', 'technologies', 'partners', 'holdings', 'consortium', 'organization', 'organisation', 'federation',
    'union', 'bureau', 'authority', 'hospital', 'press', 'services', 'solutions', 'software', 'industries',
  ],
);
const TITLES = new Set(['mr', 'mr.', 'mrs', 'mrs.', 'ms', 'ms.', 'dr', 'dr.', 'prof', 'prof.', 'sir', 'dame', 'mx', 'mx.']);
// words that start sentences or headings and are never part of a name
const STOP_WORDS = new Set(
  [
    'a', 'an', 'the', 'this', 'that', 'these', 'those', 'when', 'while', 'where', 'what', 'which', 'who', 'why', 'how',
    'if', 'in', 'on', 'at', 'by', 'for', 'from', 'to', 'with', 'without', 'and', 'or', 'but', 'so', 'as', 'after',
    'before', 'during', 'since', 'until', 'because', 'although', 'however', 'then', 'there', 'here', 'it', 'its',
    'we', 'our', 'you', 'your', 'they', 'their', 'he', 'she', 'his', 'her', 'i', 'my', 'all', 'some', 'each', 'every',
    'no', 'not', 'yes', 'also', 'both', 'many', 'most', 'more', 'one', 'two', 'three', 'new', 'see', 'note', 'page',
    'dear', 'hello', 'hi', 'thanks', 'thank', 'please', 'today', 'yesterday', 'tomorrow', 'chapter', 'section',
    'figure', 'table', 'summary', 'introduction', 'conclusion', 'appendix', 'about', 'according', 'meanwhile',
    'later', 'earlier', 'finally', 'first', 'next', 'last', 'now', 'soon', 'still', 'yet', 'thus', 'hence',
    'therefore', 'moreover', 'again', 'once', 'instead', 'perhaps', 'maybe', 'only', 'even', 'just', 'like', 'unlike',
    'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'january', 'february', 'march',
    'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december', 'mon', 'tue', 'wed',
    'thu', 'fri', 'sat', 'sun', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  ],
);
// Title-case words of headings and product names that are not parts of personal names
const NON_NAME_WORDS = new Set(
  [
    'attribute', 'attributes', 'database', 'data', 'document', 'documents', 'specification', 'standard', 'format',
    'formats', 'file', 'files', 'type', 'types', 'level', 'levels', 'requirement', 'requirements', 'entry', 'entries',
    'naming', 'icon', 'icons', 'desktop', 'spreadsheet', 'presentation', 'extended', 'shared', 'open', 'system',
    'systems', 'service', 'services', 'application', 'applications', 'project', 'report', 'version', 'guide',
    'manual', 'protocol', 'interface', 'language', 'library', 'framework', 'model', 'network', 'server', 'client',
    'user', 'users', 'world', 'word', 'words', 'information', 'content', 'contents', 'policy', 'program', 'programs',
    'code', 'engine', 'index', 'search', 'query', 'table', 'tables', 'list', 'lists', 'example', 'examples', 'note',
    'notes', 'overview', 'reference', 'references', 'license', 'copyright', 'terms', 'conditions', 'privacy', 'home',
    'street', 'road', 'avenue', 'river', 'mountain', 'lake', 'north', 'south', 'east', 'west', 'new', 'old', 'great',
    'general', 'public', 'national', 'international', 'global', 'central', 'united', 'states', 'kingdom', 'republic',
    'city', 'county', 'state', 'day', 'week', 'month', 'year', 'time', 'date', 'total', 'number', 'value', 'name',
  ],
);
const CONNECTORS = new Set(['of', 'for', 'and', 'the', 'de', 'van', 'von', 'der', 'da', '&']);

export interface ExtractOptions {
  /** Most entities returned, most mentioned first. */
  entitiesMax: number;
}

class Tally {
  private readonly map = new Map<string, ExtractedEntity>();
  add(type: ExtractedType, key: string, name: string): void {
    if (key.length === 0 || key.length > 512) return;
    const id = `${type}\u0000${key}`;
    const e = this.map.get(id);
    if (e) e.mentions++;
    else this.map.set(id, { type, key, name, mentions: 1 });
  }
  list(max: number): ExtractedEntity[] {
    return [...this.map.values()]
      .sort((a, b) => b.mentions - a.mentions || a.type.localeCompare(b.type) || a.key.localeCompare(b.key))
      .slice(0, max);
  }
}

const lc = (w: string) => w.toLowerCase();
const isStop = (w: string) => STOP_WORDS.has(lc(w)) || CONNECTORS.has(lc(w));

/** Drops stop words and connectors from both ends; a leading title is dropped too and reported. */
function trimWords(words: string[]): { words: string[]; titled: boolean } {
  let a = 0;
  let b = words.length;
  let titled = false;
  while (a < b && (isStop(words[a]!) || TITLES.has(lc(words[a]!)))) titled = TITLES.has(lc(words[a++]!)) || titled;
  while (b > a && isStop(words[b - 1]!)) b--;
  return { words: words.slice(a, b), titled };
}

// a name word: "Ada", "O'Brien", "Jean-Luc", "McDonald", or an initial "J."; not "MIME-info", "OpenDocument", "API"
const NAME_SHAPE = /^(?:\p{Lu}\.|(?:Mc|Mac|O')?\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)*)$/u;
const NAME_WORD_CHARS_MAX = 16;

function personName(words: string[], titled: boolean): boolean {
  if (words.length === 0 || words.length > 4 || (words.length < 2 && !titled)) return false;
  // acronyms, camel case and all-caps are products and headings; stop words make a phrase ("Thank You Very Much")
  return words.every((w) => NAME_SHAPE.test(w) && w.length <= NAME_WORD_CHARS_MAX && !isStop(w) && !NON_NAME_WORDS.has(lc(w)));
}

/** Splits `words` at connector words (in `at`), dropping the connectors. */
function splitAt(words: string[], at: (w: string) => boolean): string[][] {
  const groups: string[][] = [[]];
  for (const w of words) {
    if (at(lc(w))) groups.push([]);
    else groups[groups.length - 1]!.push(w);
  }
  return groups;
}

/** People and organisations in one span of capitalised words ("Ada Lovelace and the University of Oxford"). */
function classifySpan(span: string[]): { type: 'person' | 'organization'; words: string[] }[] {
  const out: { type: 'person' | 'organization'; words: string[] }[] = [];
  for (const part of splitAt(span, (w) => w === 'and')) {
    const { words, titled } = trimWords(part);
    if (words.length >= 2 && words.some((w) => ORG_WORDS.has(lc(w)))) {
      out.push({ type: 'organization', words });
      continue;
    }
    // not an organisation: other connectors separate names too
    splitAt(words, (w) => CONNECTORS.has(w)).forEach((group, i) => {
      const g = i === 0 ? { words: group, titled } : trimWords(group);
      if (personName(g.words, g.titled)) out.push({ type: 'person', words: g.words });
    });
  }
  return out;
}

/** Splits a span after words that end a sentence ("Acme Inc. Then Bob" is two spans); titles and initials do not. */
function sentencePieces(words: string[]): string[][] {
  const pieces: string[][] = [[]];
  for (const w of words) {
    pieces[pieces.length - 1]!.push(w);
    if (w.endsWith('.') && !TITLES.has(lc(w)) && !/^\p{Lu}\.$/u.test(w)) pieces.push([]);
  }
  return pieces.filter((p) => p.length > 0);
}

export function extractEntities(text: string, opts: ExtractOptions): ExtractedEntity[] {
  const tally = new Tally();
  for (const m of text.matchAll(EMAIL)) tally.add('email', m[0].toLowerCase(), m[0]);
  const withoutEmails = text.replace(EMAIL, ' ');
  for (const m of withoutEmails.matchAll(URL)) {
    const url = m[0].replace(/[.,;:!?)]+$/, '');
    tally.add('url', url, url);
  }
  const plain = withoutEmails.replace(URL, ' ');
  for (const m of plain.matchAll(HASHTAG)) tally.add('hashtag', m[1]!.toLowerCase(), `#${m[1]!}`);
  for (const m of plain.matchAll(CAP_SPAN)) {
    const span = m[0].replace(/’/g, "'").replace(/'s$/, '');
    for (const piece of sentencePieces(span.split(/[ \t]+/))) {
      for (const c of classifySpan(piece)) {
        const name = c.words.join(' ');
        tally.add(c.type, name.toLowerCase(), name);
      }
    }
  }
  return tally.list(opts.entitiesMax);
}

// Lexer of the REM query dialect: text -> tokens with line and column (1-based), so every error can say where.
// Keywords are case-insensitive words; strings use single quotes ('' escapes a quote); identifiers may be
// double-quoted ("odd name"); parameters are $1, $2, ...
import { RemError } from '../rem/errors.js';

export type TokenType = 'word' | 'qident' | 'string' | 'number' | 'param' | 'op' | 'punct' | 'eof';

export interface Token {
  type: TokenType;
  /** Source text of the token (for words: as written; for strings: the unescaped value). */
  text: string;
  /** Numeric value for numbers, parameter index (1-based) for params. */
  value?: number;
  offset: number;
  line: number;
  column: number;
}

export interface Position {
  line: number;
  column: number;
}

export interface SyntaxErrorDetails extends Position {
  expected: string[];
  found: string;
}

/** A query that cannot be parsed or planned: 400 `invalid_query` with the position in `details`. */
export function queryError(at: Position, message: string, details?: Partial<SyntaxErrorDetails>): RemError {
  return new RemError('invalid_query', `line ${at.line}, column ${at.column}: ${message}`, { line: at.line, column: at.column, ...details });
}

/** How a token is named in messages: keywords upper-cased, strings quoted, end of input spelled out. */
export function describeToken(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'end of query';
    case 'string':
      return `string '${t.text.length > 40 ? t.text.slice(0, 40) + '…' : t.text}'`;
    case 'param':
      return `parameter $${t.value}`;
    case 'qident':
      return `identifier "${t.text}"`;
    default:
      return `'${t.text.length > 40 ? t.text.slice(0, 40) + '…' : t.text}'`;
  }
}

const OPS = ['<=', '>=', '!=', '<>', '=', '<', '>'];
const PUNCT = new Set(['(', ')', ',', '.', '*', ';', '-']);
export const QUERY_CHARS_MAX = 100_000;

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (offset: number): Position => ({ line, column: offset - lineStart + 1 });
  const fail = (offset: number, message: string, expected: string[], found: string): never => {
    throw queryError(pos(offset), message, { expected, found });
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '-' && src[i + 1] === '-') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const start = i;
    const at = pos(start);
    const push = (type: TokenType, text: string, value?: number) => {
      const t: Token = { type, text, offset: start, ...at };
      if (value !== undefined) t.value = value;
      tokens.push(t);
    };
    if (c === "'" || c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= src.length) fail(start, `unterminated ${c === "'" ? 'string' : 'quoted identifier'}`, [`closing ${c}`], 'end of query');
        const d = src[i]!;
        if (d === c) {
          if (src[i + 1] === c) {
            text += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === '\n') {
          line++;
          lineStart = i + 1;
        }
        text += d;
        i++;
      }
      if (c === '"' && text.length === 0) fail(start, 'empty quoted identifier', ['identifier'], '""');
      push(c === "'" ? 'string' : 'qident', text);
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i, i + 64))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) fail(i, 'invalid number', ['digit', 'operator', 'whitespace'], `'${src[i]}'`);
      push('number', m[0], Number(m[0]));
      continue;
    }
    if (c === '$') {
      const m = /^\$(\d{1,4})/.exec(src.slice(i, i + 6));
      if (!m || Number(m[1]) === 0) fail(start, 'invalid parameter', ['$1, $2, ...'], `'${src.slice(i, i + 2)}'`);
      i += m![0].length;
      push('param', m![0], Number(m![1]));
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 256))!;
      i += m[0].length;
      push('word', m[0]);
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      i += op.length;
      push('op', op === '<>' ? '!=' : op);
      continue;
    }
    if (PUNCT.has(c)) {
      i++;
      push('punct', c);
      continue;
    }
    const cp = String.fromCodePoint(src.codePointAt(i)!);
    fail(start, `unexpected character '${cp}'`, ['keyword', 'identifier', 'string', 'number', 'operator'], `'${cp}'`);
  }
  tokens.push({ type: 'eof', text: '', offset: i, ...pos(i) });
  return tokens;
}

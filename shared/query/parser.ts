// Recursive-descent parser of the REM query dialect. Grammar (keywords case-insensitive, [] optional, | choice):
//
//   statement := [EXPLAIN] query [';']
//   query     := LOOKUP value {',' value} [TYPE value]
//              | FUZZY value [THRESHOLD value] [LIMIT value]
//              | SEARCH value IN kind [MODE hybrid|vector|keyword] [WHERE expr] [LIMIT value]
//              | TRAVERSE FROM value [DEPTH value] [DIRECTION out|in|both] [TYPE value] [LIMIT value]
//              | SELECT ('*' | item {',' item}) FROM kind [WHERE expr] [GROUP BY field {',' field}]
//                  [ORDER BY order {',' order}] [LIMIT value] [OFFSET value]
//   kind      := resources | entities | moments
//   item      := (field | aggregate) [AS name]           aggregate := (COUNT|SUM|AVG|MIN|MAX) '(' ('*' | field) ')'
//   order     := (field | aggregate) [ASC | DESC]
//   expr      := and {OR and}      and := unary {AND unary}      unary := NOT unary | '(' expr ')' | predicate
//   predicate := field ('='|'!='|'<>'|'<'|'<='|'>'|'>=') value
//              | field [NOT] IN ('(' value {',' value} ')' | param) | field [NOT] LIKE value | field IS [NOT] NULL
//   field     := name {'.' name}        name := word | "quoted"
//   value     := 'string' | number | '-' number | TRUE | FALSE | NULL | $n
//
// The parser records every alternative it tried at the current token, so a syntax error names what was expected.
import type { RemKind } from '../rem/types.js';
import type {
  AggregateFn,
  CompareOp,
  Direction,
  Expr,
  FieldRef,
  Mode,
  Operand,
  OrderItem,
  Query,
  SelectItem,
  SelectQuery,
  Statement,
} from './ast.js';
import { QUERY_CHARS_MAX, describeToken, queryError, tokenize, type Position, type Token } from './lexer.js';

const KINDS: readonly RemKind[] = ['resources', 'entities', 'moments'];
const MODES: readonly Mode[] = ['hybrid', 'vector', 'keyword'];
const DIRECTIONS: readonly Direction[] = ['out', 'in', 'both'];
const AGGREGATES: readonly AggregateFn[] = ['count', 'sum', 'avg', 'min', 'max'];
/** Words that cannot name a field without double quotes (they would make clauses ambiguous). */
const RESERVED = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'in', 'like', 'is', 'null', 'true', 'false',
  'group', 'order', 'by', 'limit', 'offset', 'asc', 'desc', 'as', 'explain',
]);
const MAX_DEPTH = 64;

class Parser {
  private i = 0;
  /** Alternatives tried at the current token (cleared when a token is consumed). */
  private expected: string[] = [];
  private nesting = 0;

  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.i]!;
  }

  private advance(): Token {
    const t = this.tok;
    if (t.type !== 'eof') this.i++;
    this.expected = [];
    return t;
  }

  private expect(what: string): void {
    if (!this.expected.includes(what)) this.expected.push(what);
  }

  /** Throws a syntax error at the current token naming every alternative tried there. */
  fail(extra?: string): never {
    if (extra) this.expect(extra);
    const list = this.expected;
    const wanted = list.length <= 1 ? (list[0] ?? 'something else') : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
    throw queryError(this.tok, `expected ${wanted}, found ${describeToken(this.tok)}`, { expected: [...list], found: describeToken(this.tok) });
  }

  private isWord(kw: string): boolean {
    return this.tok.type === 'word' && this.tok.text.toLowerCase() === kw;
  }

  /** Consumes keyword `kw` (lower case) if it is next; otherwise records it as expected. */
  private accept(kw: string): boolean {
    if (this.isWord(kw)) {
      this.advance();
      return true;
    }
    this.expect(kw.toUpperCase());
    return false;
  }

  private keyword(kw: string): void {
    if (!this.accept(kw)) this.fail();
  }

  private acceptPunct(p: string): boolean {
    if (this.tok.type === 'punct' && this.tok.text === p) {
      this.advance();
      return true;
    }
    this.expect(`'${p}'`);
    return false;
  }

  private punct(p: string): void {
    if (!this.acceptPunct(p)) this.fail();
  }

  /** One of a closed set of words (kinds, modes, directions). */
  private oneOf<T extends string>(options: readonly T[], what: string): T {
    if (this.tok.type === 'word') {
      const w = this.tok.text.toLowerCase() as T;
      if (options.includes(w)) {
        this.advance();
        return w;
      }
    }
    this.expect(what);
    return this.fail();
  }

  statement(): Statement {
    const explain = this.accept('explain');
    const query = this.query();
    this.acceptPunct(';');
    if (this.tok.type !== 'eof') this.fail('end of query');
    return { explain, query };
  }

  private query(): Query {
    if (this.accept('lookup')) return this.lookup();
    if (this.accept('fuzzy')) return this.fuzzy();
    if (this.accept('search')) return this.search();
    if (this.accept('traverse')) return this.traverse();
    const at = this.tok;
    if (this.accept('select')) return this.select(at);
    return this.fail();
  }

  private lookup(): Query {
    const keys = [this.value('a key')];
    while (this.acceptPunct(',')) keys.push(this.value('a key'));
    const q: Query = { type: 'lookup', keys };
    if (this.accept('type')) q.entityType = this.value('an entity type');
    return q;
  }

  private fuzzy(): Query {
    const q: Query = { type: 'fuzzy', text: this.value('the text to match') };
    if (this.accept('threshold')) q.threshold = this.value('a threshold');
    if (this.accept('limit')) q.limit = this.value('a limit');
    return q;
  }

  private search(): Query {
    const text = this.value('the search text');
    this.keyword('in');
    const q: Query = { type: 'search', text, kind: this.oneOf(KINDS, 'resources, entities or moments') };
    if (this.accept('mode')) q.mode = this.oneOf(MODES, 'hybrid, vector or keyword');
    if (this.accept('where')) q.where = this.expr();
    if (this.accept('limit')) q.limit = this.value('a limit');
    return q;
  }

  private traverse(): Query {
    this.keyword('from');
    const q: Query = { type: 'traverse', from: this.value('an entity key or id') };
    if (this.accept('depth')) q.depth = this.value('a depth');
    if (this.accept('direction')) q.direction = this.oneOf(DIRECTIONS, 'out, in or both');
    if (this.accept('type')) q.rel = this.value('a relation type');
    if (this.accept('limit')) q.limit = this.value('a limit');
    return q;
  }

  private select(at: Position): Query {
    let items: SelectItem[] | '*';
    if (this.acceptPunct('*')) items = '*';
    else {
      items = [this.selectItem()];
      while (this.acceptPunct(',')) items.push(this.selectItem());
    }
    this.keyword('from');
    const q: SelectQuery = { type: 'select', items, kind: this.oneOf(KINDS, 'resources, entities or moments'), groupBy: [], orderBy: [], pos: at };
    if (this.accept('where')) q.where = this.expr();
    if (this.accept('group')) {
      this.keyword('by');
      q.groupBy.push(this.field());
      while (this.acceptPunct(',')) q.groupBy.push(this.field());
    }
    if (this.accept('order')) {
      this.keyword('by');
      q.orderBy.push(this.orderItem());
      while (this.acceptPunct(',')) q.orderBy.push(this.orderItem());
    }
    if (this.accept('limit')) q.limit = this.value('a limit');
    if (this.accept('offset')) q.offset = this.value('an offset');
    return q;
  }

  /** `fn(` starting at the current token, if it is an aggregate call. */
  private aggregate(): { fn: AggregateFn; field?: FieldRef; pos: Position } | undefined {
    const t = this.tok;
    const next = this.tokens[this.i + 1]!;
    if (t.type !== 'word' || !(next.type === 'punct' && next.text === '(')) return undefined;
    const fn = t.text.toLowerCase() as AggregateFn;
    if (!AGGREGATES.includes(fn)) throw queryError(t, `unknown function '${t.text}' (aggregates: COUNT, SUM, AVG, MIN, MAX)`, { expected: ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX'], found: describeToken(t) });
    this.advance();
    this.advance();
    let field: FieldRef | undefined;
    if (fn === 'count' && this.acceptPunct('*')) field = undefined;
    else field = this.field();
    this.punct(')');
    return field ? { fn, field, pos: t } : { fn, pos: t };
  }

  private selectItem(): SelectItem {
    const agg = this.aggregate();
    const item: SelectItem = agg ? { type: 'agg', ...agg } : { type: 'field', field: this.field('an aggregate') };
    if (this.accept('as')) item.alias = this.name();
    return item;
  }

  private orderItem(): OrderItem {
    const agg = this.aggregate();
    const target: OrderItem['target'] = agg ? { type: 'agg', ...agg } : { type: 'field', field: this.field('an aggregate') };
    let desc = false;
    if (this.accept('desc')) desc = true;
    else this.accept('asc');
    return { target, desc };
  }

  private name(): string {
    const t = this.tok;
    if (t.type === 'qident' || (t.type === 'word' && !RESERVED.has(t.text.toLowerCase()))) {
      this.advance();
      return t.text;
    }
    this.expect('a name');
    return this.fail();
  }

  /** A field path; `alt` names another alternative valid at this point (for the error message). */
  private field(alt?: string): FieldRef {
    const t = this.tok;
    if (!(t.type === 'qident' || (t.type === 'word' && !RESERVED.has(t.text.toLowerCase())))) {
      this.expect('a field');
      if (alt) this.expect(alt);
      this.fail();
    }
    this.advance();
    const path = [t.text];
    while (this.acceptPunct('.')) {
      const seg = this.tok;
      if (seg.type !== 'word' && seg.type !== 'qident') this.fail('a field name');
      this.advance();
      path.push(seg.text);
    }
    return { path, text: path.join('.'), pos: t };
  }

  private expr(): Expr {
    if (++this.nesting > MAX_DEPTH) throw queryError(this.tok, `expression nested deeper than ${MAX_DEPTH} levels`);
    const items = [this.and()];
    while (this.accept('or')) items.push(this.and());
    this.nesting--;
    return items.length === 1 ? items[0]! : { type: 'or', items };
  }

  private and(): Expr {
    const items = [this.unary()];
    while (this.accept('and')) items.push(this.unary());
    return items.length === 1 ? items[0]! : { type: 'and', items };
  }

  private unary(): Expr {
    if (this.accept('not')) {
      if (++this.nesting > MAX_DEPTH) throw queryError(this.tok, `expression nested deeper than ${MAX_DEPTH} levels`);
      const expr = this.unary();
      this.nesting--;
      return { type: 'not', expr };
    }
    if (this.acceptPunct('(')) {
      const e = this.expr();
      this.punct(')');
      return e;
    }
    return this.predicate();
  }

  private predicate(): Expr {
    const field = this.field();
    const t = this.tok;
    if (t.type === 'op') {
      this.advance();
      return { type: 'cmp', op: t.text as CompareOp, field, value: this.value('a value') };
    }
    this.expect('a comparison operator');
    if (this.accept('is')) {
      const negated = this.accept('not');
      this.keyword('null');
      return { type: 'isnull', field, negated };
    }
    const negated = this.accept('not');
    if (this.accept('in')) return { type: 'in', field, values: this.inList(), negated };
    if (this.accept('like')) return { type: 'like', field, pattern: this.value('a pattern'), negated };
    return this.fail();
  }

  private inList(): Operand[] {
    if (this.tok.type === 'param') return [this.value('a list')];
    if (!this.acceptPunct('(')) this.fail('a parameter');
    const values = [this.value('a value')];
    while (this.acceptPunct(',')) values.push(this.value('a value'));
    this.punct(')');
    return values;
  }

  /** A literal or a parameter; `what` describes it in errors. */
  private value(what: string): Operand {
    const t = this.tok;
    const lit = (value: Operand & { type: 'literal' }) => {
      this.advance();
      return value;
    };
    if (t.type === 'string') return lit({ type: 'literal', value: t.text, pos: t });
    if (t.type === 'number') return lit({ type: 'literal', value: t.value!, pos: t });
    if (t.type === 'param') {
      this.advance();
      return { type: 'param', index: t.value!, pos: t };
    }
    if (t.type === 'punct' && t.text === '-') {
      const n = this.tokens[this.i + 1]!;
      if (n.type === 'number') {
        this.advance();
        return lit({ type: 'literal', value: -n.value!, pos: t });
      }
    }
    if (t.type === 'word') {
      const w = t.text.toLowerCase();
      if (w === 'true' || w === 'false') return lit({ type: 'literal', value: w === 'true', pos: t });
      if (w === 'null') return lit({ type: 'literal', value: null, pos: t });
    }
    this.expect(what);
    return this.fail();
  }
}

/** Parses one statement; throws RemError('invalid_query') with line, column, expected and found in `details`. */
export function parse(src: string): Statement {
  if (src.length > QUERY_CHARS_MAX) throw queryError({ line: 1, column: 1 }, `query longer than ${QUERY_CHARS_MAX} characters`);
  return new Parser(tokenize(src)).statement();
}

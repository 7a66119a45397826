// The REM query dialect's parser: every statement form, and every kind of syntax error with its line and column.
import { describe, expect, it } from 'vitest';
import { RemError } from '../shared/rem/errors.js';
import { parse } from '../shared/query/parser.js';
import { tokenize } from '../shared/query/lexer.js';

/** The error a query raises, as {message, details}. */
function syntaxError(q: string): { message: string; details: { line: number; column: number; expected: string[]; found: string } } {
  try {
    parse(q);
  } catch (err) {
    expect(err).toBeInstanceOf(RemError);
    expect((err as RemError).code).toBe('invalid_query');
    return { message: (err as RemError).message, details: (err as RemError).details as never };
  }
  throw new Error(`query parsed but should not have: ${q}`);
}

const lit = (value: unknown) => expect.objectContaining({ type: 'literal', value });

describe('query lexer', () => {
  it('tokenizes with 1-based lines and columns, escapes and comments', () => {
    const toks = tokenize("SELECT *\n  FROM entities -- note\nWHERE name = 'O''Brien' AND x <> $2");
    expect(toks.map((t) => [t.type, t.text, t.line, t.column])).toEqual([
      ['word', 'SELECT', 1, 1],
      ['punct', '*', 1, 8],
      ['word', 'FROM', 2, 3],
      ['word', 'entities', 2, 8],
      ['word', 'WHERE', 3, 1],
      ['word', 'name', 3, 7],
      ['op', '=', 3, 12],
      ['string', "O'Brien", 3, 14],
      ['word', 'AND', 3, 25],
      ['word', 'x', 3, 29],
      ['op', '!=', 3, 31],
      ['param', '$2', 3, 34],
      ['eof', '', 3, 36],
    ]);
  });

  it('reads numbers with fractions and exponents', () => {
    expect(tokenize('1 2.5 .5 1e3 7E-2').filter((t) => t.type === 'number').map((t) => t.value)).toEqual([1, 2.5, 0.5, 1000, 0.07]);
  });
});

describe('query parser: valid forms', () => {
  it('LOOKUP with several keys and a type, keywords in any case', () => {
    expect(parse("lookup 'alice', 'Bob' Type 'person'")).toEqual({
      explain: false,
      query: { type: 'lookup', keys: [lit('alice'), lit('Bob')], entityType: lit('person') },
    });
  });

  it('FUZZY with threshold and limit', () => {
    expect(parse("FUZZY 'alise' THRESHOLD 0.5 LIMIT 3").query).toEqual({ type: 'fuzzy', text: lit('alise'), threshold: lit(0.5), limit: lit(3) });
  });

  it('SEARCH with kind, mode, where and limit', () => {
    const q = parse("SEARCH 'replication' IN resources MODE keyword WHERE metadata.lang = 'en' LIMIT 5").query;
    expect(q).toMatchObject({ type: 'search', kind: 'resources', mode: 'keyword', limit: lit(5), text: lit('replication') });
    expect(q.type === 'search' && q.where).toMatchObject({ type: 'cmp', op: '=', field: { path: ['metadata', 'lang'] }, value: lit('en') });
  });

  it('TRAVERSE with every clause', () => {
    expect(parse("TRAVERSE FROM 'alice' DEPTH 3 DIRECTION in TYPE 'knows' LIMIT 50").query).toEqual({
      type: 'traverse',
      from: lit('alice'),
      depth: lit(3),
      direction: 'in',
      rel: lit('knows'),
      limit: lit(50),
    });
  });

  it('SELECT with fields, aliases, every operator, precedence, grouping, order, limit and offset', () => {
    const q = parse(
      `SELECT type, COUNT(*) AS n, AVG(properties.age) FROM entities
       WHERE NOT (properties.age < 18 OR properties.age >= 65) AND name LIKE 'A%' AND type IN ('person', $1)
         AND properties.x IS NOT NULL AND key NOT IN (1, -2.5, TRUE, NULL) AND properties.y != 3 AND properties.z <= 4 AND properties.w > 5
       GROUP BY type ORDER BY n DESC, type LIMIT 10 OFFSET 20;`,
    ).query;
    expect(q.type).toBe('select');
    if (q.type !== 'select') return;
    expect(q.items).toEqual([
      { type: 'field', field: expect.objectContaining({ path: ['type'] }) },
      { type: 'agg', fn: 'count', alias: 'n', pos: expect.anything() },
      { type: 'agg', fn: 'avg', field: expect.objectContaining({ text: 'properties.age' }), pos: expect.anything() },
    ]);
    expect(q.kind).toBe('entities');
    expect(q.groupBy.map((g) => g.text)).toEqual(['type']);
    expect(q.orderBy.map((o) => [o.target.type === 'field' ? o.target.field.text : o.target.fn, o.desc])).toEqual([
      ['n', true],
      ['type', false],
    ]);
    expect(q.limit).toEqual(lit(10));
    expect(q.offset).toEqual(lit(20));
    const w = q.where!;
    expect(w.type).toBe('and');
    if (w.type !== 'and') return;
    expect(w.items.map((x) => x.type)).toEqual(['not', 'like', 'in', 'isnull', 'in', 'cmp', 'cmp', 'cmp']);
    expect(w.items[0]).toMatchObject({ type: 'not', expr: { type: 'or', items: [{ op: '<' }, { op: '>=' }] } });
    expect(w.items[2]).toMatchObject({ negated: false, values: [lit('person'), { type: 'param', index: 1 }] });
    expect(w.items[3]).toMatchObject({ negated: true });
    expect(w.items[4]).toMatchObject({ negated: true, values: [lit(1), lit(-2.5), lit(true), lit(null)] });
    expect(w.items.slice(5).map((x) => (x.type === 'cmp' ? x.op : ''))).toEqual(['!=', '<=', '>']);
  });

  it('AND binds tighter than OR', () => {
    const w = parse('SELECT * FROM moments WHERE a.b = 1 OR tags = 2 AND name = 3'.replace('a.b', 'metadata.b')).query;
    expect(w.type === 'select' && w.where).toMatchObject({ type: 'or', items: [{ type: 'cmp' }, { type: 'and', items: [{}, {}] }] });
  });

  it('EXPLAIN wraps any query; quoted identifiers name odd fields; IN takes a list parameter', () => {
    const s = parse('EXPLAIN SELECT "properties"."first name" FROM entities WHERE properties.tag IN $2');
    expect(s.explain).toBe(true);
    expect(s.query).toMatchObject({ items: [{ field: { path: ['properties', 'first name'] } }], where: { type: 'in', values: [{ type: 'param', index: 2 }] } });
  });

  it('SELECT * with every kind', () => {
    for (const kind of ['resources', 'entities', 'moments']) expect(parse(`select * from ${kind}`).query).toMatchObject({ type: 'select', items: '*', kind });
  });
});

describe('query parser: syntax errors name line, column and what was expected', () => {
  const cases: [string, string, number, number, string[], string][] = [
    ['empty query', '', 1, 1, ['EXPLAIN', 'LOOKUP', 'FUZZY', 'SEARCH', 'TRAVERSE', 'SELECT'], 'end of query'],
    ['unknown statement', 'SELCT * FROM entities', 1, 1, ['EXPLAIN', 'LOOKUP', 'FUZZY', 'SEARCH', 'TRAVERSE', 'SELECT'], "'SELCT'"],
    ['missing lookup key', 'LOOKUP', 1, 7, ['a key'], 'end of query'],
    ['trailing comma in lookup', "LOOKUP 'a',", 1, 12, ['a key'], 'end of query'],
    ['junk after lookup', "LOOKUP 'a' LIMIT 3", 1, 12, ["','", 'TYPE', "';'", 'end of query'], "'LIMIT'"],
    ['fuzzy threshold needs a value', "FUZZY 'x' THRESHOLD", 1, 20, ['a threshold'], 'end of query'],
    ['search without IN', "SEARCH 'x' FROM resources", 1, 12, ['IN'], "'FROM'"],
    ['search unknown kind', "SEARCH 'x' IN documents", 1, 15, ['resources, entities or moments'], "'documents'"],
    ['search unknown mode', "SEARCH 'x' IN resources MODE fuzzy", 1, 30, ['hybrid, vector or keyword'], "'fuzzy'"],
    ['traverse without FROM', "TRAVERSE 'alice'", 1, 10, ['FROM'], "string 'alice'"],
    ['traverse bad direction', "TRAVERSE FROM 'a' DIRECTION up", 1, 29, ['out, in or both'], "'up'"],
    ['select list missing', 'SELECT FROM entities', 1, 8, ["'*'", 'a field', 'an aggregate'], "'FROM'"],
    ['select without FROM', 'SELECT * entities', 1, 10, ['FROM'], "'entities'"],
    ['select item list', 'SELECT id name FROM entities', 1, 11, ["'.'", 'AS', "','", 'FROM'], "'name'"],
    ['where without predicate', 'SELECT * FROM entities WHERE', 1, 29, ['NOT', "'('", 'a field'], 'end of query'],
    ['predicate without operator', 'SELECT * FROM entities\nWHERE name', 2, 11, ["'.'", 'a comparison operator', 'IS', 'NOT', 'IN', 'LIKE'], 'end of query'],
    ['comparison without value', 'SELECT * FROM entities WHERE name =', 1, 36, ['a value'], 'end of query'],
    ['unclosed parenthesis', "SELECT * FROM entities WHERE (name = 'a'", 1, 41, ["AND", 'OR', "')'"], 'end of query'],
    ['IS without NULL', 'SELECT * FROM entities WHERE name IS 3', 1, 38, ['NOT', 'NULL'], "'3'"],
    ['IN without list', "SELECT * FROM entities WHERE name IN 'a'", 1, 38, ["'('", 'a parameter'], "string 'a'"],
    ['GROUP without BY', 'SELECT type FROM entities GROUP type', 1, 33, ['BY'], "'type'"],
    ['ORDER BY needs a field', 'SELECT * FROM entities ORDER BY', 1, 32, ['a field', 'an aggregate'], 'end of query'],
    ['reserved word as field', 'SELECT * FROM entities WHERE from = 1', 1, 30, ['NOT', "'('", 'a field'], "'from'"],
    ['clauses out of order', 'SELECT * FROM entities LIMIT 1 WHERE id = 1', 1, 32, ['OFFSET', "';'", 'end of query'], "'WHERE'"],
    ['text after the end', "LOOKUP 'a'; LOOKUP 'b'", 1, 13, ['end of query'], "'LOOKUP'"],
    ['multi-line position', "SELECT *\nFROM entities\nWHERE type = 'a'\n  AND AND", 4, 7, ['NOT', "'('", 'a field'], "'AND'"],
  ];
  for (const [name, q, line, column, expected, found] of cases) {
    it(name, () => {
      const e = syntaxError(q);
      expect(e.details).toMatchObject({ line, column, found });
      expect(e.details.expected).toEqual(expected);
      expect(e.message).toMatch(new RegExp(`^line ${line}, column ${column}: expected `));
    });
  }

  it('lexical errors: unterminated string, stray character, bad parameter, bad number', () => {
    expect(syntaxError("LOOKUP 'abc").details).toMatchObject({ line: 1, column: 8, expected: ["closing '"], found: 'end of query' });
    expect(syntaxError('SELECT * FROM entities\nWHERE name = "').details).toMatchObject({ line: 2, column: 14 });
    expect(syntaxError("LOOKUP 'a' # x").details).toMatchObject({ line: 1, column: 12, found: "'#'" });
    expect(syntaxError('LOOKUP $0').details).toMatchObject({ line: 1, column: 8, expected: ['$1, $2, ...'] });
    expect(syntaxError('FUZZY 12abc').details).toMatchObject({ line: 1, column: 9, found: "'a'" });
    expect(syntaxError('SELECT "" FROM entities').details).toMatchObject({ line: 1, column: 8, found: '""' });
  });

  it('unknown functions are named with the aggregates that exist', () => {
    const e = syntaxError('SELECT median(properties.age) FROM entities');
    expect(e.details).toMatchObject({ line: 1, column: 8, expected: ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX'] });
    expect(e.message).toContain("unknown function 'median'");
  });

  it('aggregates other than COUNT need a field', () => {
    expect(syntaxError('SELECT SUM(*) FROM entities').details).toMatchObject({ line: 1, column: 12, expected: ['a field'], found: "'*'" });
  });

  it('deep nesting is refused rather than overflowing the stack', () => {
    const q = `SELECT * FROM entities WHERE ${'('.repeat(100)}id = 1${')'.repeat(100)}`;
    expect(syntaxError(q).message).toMatch(/nested deeper than 64/);
  });
});

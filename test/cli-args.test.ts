// The command-line parsers of the benchmarks and scripts (node:util parseArgs underneath): the same flags, inline and
// separate values, and the same messages for unknown or malformed arguments as the hand-written parsers had.
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../bench/all.js';
import { parseArgs } from '../bench/report.js';
import { readArgs } from '../scripts/cli-args.js';
import { parseTinyModelArgs } from '../scripts/make-tiny-model.js';

describe('benchmark arguments (bench/report.ts parseArgs)', () => {
  it('reads --quick, --count N, --count=N and --queries N', () => {
    expect(parseArgs([])).toEqual({ quick: false });
    expect(parseArgs(['--quick'])).toEqual({ quick: true });
    expect(parseArgs(['--count', '1000', '--queries=20'])).toEqual({ quick: false, count: 1000, queries: 20 });
    expect(parseArgs(['--count=5', '--quick', '--count', '7'])).toEqual({ quick: true, count: 7 }); // the last one wins
  });

  it('refuses unknown arguments with the expected flags in the message', () => {
    const expected = '(expected --quick, --count N, --queries N)';
    expect(() => parseArgs(['--bogus'])).toThrow(`unknown argument '--bogus' ${expected}`);
    expect(() => parseArgs(['--bogus=3'])).toThrow(`unknown argument '--bogus=3' ${expected}`);
    expect(() => parseArgs(['-q'])).toThrow(`unknown argument '-q' ${expected}`);
    expect(() => parseArgs(['1000'])).toThrow(`unknown argument '1000' ${expected}`);
    expect(() => parseArgs(['--'])).toThrow(`unknown argument '--' ${expected}`);
  });

  it('refuses a missing or non-positive count', () => {
    expect(() => parseArgs(['--count'])).toThrow("--count needs a positive integer, got ''");
    expect(() => parseArgs(['--count', '0'])).toThrow("--count needs a positive integer, got '0'");
    expect(() => parseArgs(['--queries', '2.5'])).toThrow("--queries needs a positive integer, got '2.5'");
    expect(() => parseArgs(['--count', '--quick'])).toThrow("--count needs a positive integer, got '--quick'");
  });
});

describe('bench/all.ts options', () => {
  it('reads --quick, --smoke (implies --quick), --collect and --only a,b', () => {
    expect(parseOptions([])).toEqual({ quick: false, smoke: false, collect: false });
    expect(parseOptions(['--smoke'])).toEqual({ quick: true, smoke: true, collect: false });
    expect(parseOptions(['--quick', '--only', 'search,peers'])).toEqual({ quick: true, smoke: false, collect: false, only: ['search', 'peers'] });
    expect(parseOptions(['--only=query', '--collect'])).toEqual({ quick: false, smoke: false, collect: true, only: ['query'] });
    expect(parseOptions(['--only'])).toEqual({ quick: false, smoke: false, collect: false, only: [] });
  });

  it('refuses unknown arguments', () => {
    expect(() => parseOptions(['--quick', '--fast'])).toThrow("unknown argument '--fast' (expected --quick, --smoke, --collect, --only a,b)");
    expect(() => parseOptions(['search'])).toThrow("unknown argument 'search' (expected --quick, --smoke, --collect, --only a,b)");
  });
});

describe('scripts/make-tiny-model.ts arguments', () => {
  it('takes the output directory and optional --dimension and --seed', () => {
    expect(parseTinyModelArgs(['out'])).toEqual({ outDir: 'out', opts: {} });
    expect(parseTinyModelArgs(['--dimension', '16', 'out', '--seed=3'])).toEqual({ outDir: 'out', opts: { dimension: 16, seed: 3 } });
  });

  it('refuses a second directory, an unknown flag, a bad number and no directory', () => {
    expect(() => parseTinyModelArgs(['a', 'b'])).toThrow("unexpected argument 'b'");
    expect(() => parseTinyModelArgs(['a', '--bogus'])).toThrow("unexpected argument '--bogus'");
    expect(() => parseTinyModelArgs(['a', '--seed', 'x'])).toThrow('--seed needs an integer');
    expect(() => parseTinyModelArgs(['a', '--dimension'])).toThrow('--dimension needs an integer');
    expect(() => parseTinyModelArgs([])).toThrow('usage: tsx scripts/make-tiny-model.ts <outDir> [--dimension 32] [--seed 1]');
  });
});

describe('readArgs', () => {
  it('keeps the order and the arguments as written', () => {
    const got = readArgs(['x', '--n=1', '--flag', '--n', '2'], { n: { type: 'string' }, flag: { type: 'boolean' } }, (raw) => new Error(raw));
    expect(got).toEqual([
      { kind: 'positional', value: 'x', raw: 'x' },
      { kind: 'option', name: 'n', value: '1', raw: '--n=1' },
      { kind: 'option', name: 'flag', value: undefined, raw: '--flag' },
      { kind: 'option', name: 'n', value: '2', raw: '--n' },
    ]);
  });

  it('refuses a declared name given as a short option, and options that only exist on Object.prototype', () => {
    const unknown = (raw: string) => new Error(`unknown ${raw}`);
    expect(() => readArgs(['-n', '1'], { n: { type: 'string' } }, unknown)).toThrow('unknown -n');
    expect(() => readArgs(['--toString'], { n: { type: 'string' } }, unknown)).toThrow('unknown --toString');
  });
});

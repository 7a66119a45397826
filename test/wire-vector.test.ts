// Vectors on the wire (replicated ops carry each record's vector as base64 of float32): a replica accepts exactly the
// canonical encoding of a usable vector of its dimension, decodes it exactly, and refuses every other string with
// invalid_embedding, whether the dimension needs base64 padding or not.
import { describe, expect, it } from 'vitest';
import { RemError } from '../shared/rem/errors.js';
import { decodeVector, encodeVector } from '../shared/rem/ops.js';
import { checkWireVector } from '../shared/rem/rules.js';

const vectorOf = (dimension: number, seed: number) => Float32Array.from({ length: dimension }, (_, i) => Math.sin(seed + i * 0.37) + 0.01);

function refusal(v: unknown, dimension: number): string | undefined {
  try {
    checkWireVector(v, dimension, 'vector');
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(RemError);
    return (err as RemError).code;
  }
}

/** `s` with the character at `i` replaced by `c`. */
const at = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);

describe('wire vectors', () => {
  // 384: no padding (1,536 bytes); 385 and 386: one and two bytes past a 3-byte group, so '==' and '=' padding
  for (const dimension of [384, 385, 386, 8]) {
    it(`accepts and decodes the canonical encoding of a ${dimension}-dimension vector exactly`, () => {
      for (let seed = 0; seed < 5; seed++) {
        const v = vectorOf(dimension, seed);
        const wire = encodeVector(v);
        const checked = checkWireVector(wire, dimension, 'vector');
        expect(checked).toEqual(v);
        expect(checked.byteOffset).toBe(0);
        expect(checked.buffer.byteLength).toBe(dimension * 4);
        expect(decodeVector(wire)).toEqual(v);
      }
    });

    it(`refuses every other spelling of a ${dimension}-dimension vector with invalid_embedding`, () => {
      const wire = encodeVector(vectorOf(dimension, 1));
      const mid = Math.floor(wire.length / 2);
      const cases: [string, unknown][] = [
        ['not a string', 12],
        ['one character short', wire.slice(1)],
        ['one character long', wire + 'A'],
        ['a space in place of a character', at(wire, mid, ' ')],
        ['a character outside the alphabet', at(wire, mid, '!')],
        ['the URL-safe minus', at(wire, mid, '-')],
        ['the URL-safe underscore', at(wire, 0, '_')],
        ['padding in the middle', at(wire, mid, '=')],
        ['a newline at the end in place of a character', at(wire, wire.length - 1, '\n')],
        ['another dimension', encodeVector(vectorOf(dimension + 3, 1))],
      ];
      for (const [what, v] of cases) expect(refusal(v, dimension), what).toBe('invalid_embedding');
    });
  }

  it('refuses non-zero trailing bits before the padding (a second spelling of the same bytes)', () => {
    // 385 dimensions: 1,540 bytes, the last group holds one byte and '==', so its second character carries 4 unused bits
    const wire = encodeVector(vectorOf(385, 2));
    expect(wire.endsWith('==')).toBe(true);
    const last = wire.length - 3;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const noisy = at(wire, last, alphabet[alphabet.indexOf(wire[last]!) | 1]!);
    expect(noisy).not.toBe(wire);
    expect(Buffer.from(noisy, 'base64')).toEqual(Buffer.from(wire, 'base64')); // the decoder alone cannot tell them apart
    expect(refusal(noisy, 385)).toBe('invalid_embedding');
  });

  it('refuses vectors that decode but cannot be searched: a non-finite component, the zero vector, overflow', () => {
    const nan = vectorOf(384, 3);
    nan[100] = Number.NaN;
    const inf = vectorOf(384, 3);
    inf[0] = Number.POSITIVE_INFINITY;
    const huge = new Float32Array(384).fill(3e38);
    for (const v of [nan, inf, new Float32Array(384), huge]) expect(refusal(encodeVector(v), 384)).toBe('invalid_embedding');
  });
});

// Guards for JSON that arrives from outside (request bodies, replicated ops), applied before or right after parsing:
// nesting depth (deep documents overflow the stack of every recursive walker, JSON.stringify included) and the
// `__proto__` key (an own property after JSON.parse, but an assignment to it elsewhere replaces an object's
// prototype). Both are iterative and linear in the input, so they cannot be turned against the node themselves.

/**
 * The nesting depth of a JSON text (objects and arrays), scanning at most until `max` is exceeded: returns a number
 * greater than `max` as soon as the text nests deeper. Does not validate the JSON otherwise.
 */
export function jsonTextDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: jump to its closing quote with the native search (a replicated op is mostly long base64 vector
      // strings); a quote is escaped when an odd number of backslashes precedes it
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q < 0) return deepest; // unterminated: not JSON, which the parser reports
        let slashes = 0;
        while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
        i = q;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/**
 * One walk over a parsed value: whether it nests deeper than `depthMax`, and the path of an own `__proto__` key if it
 * holds one (the path is built only then: the walk itself allocates no strings).
 */
export function inspectJson(value: unknown, depthMax: number): { tooDeep: boolean; protoPath: string | undefined } {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let proto = false;
  while (values.length > 0) {
    const v = values.pop();
    const d = depths.pop()! + 1;
    if (v === null || typeof v !== 'object') continue;
    if (d > depthMax) return { tooDeep: true, protoPath: undefined };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (x !== null && typeof x === 'object') {
          values.push(x);
          depths.push(d);
        }
      }
      continue;
    }
    if (Object.hasOwn(v, '__proto__')) proto = true;
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && typeof x === 'object' && Object.hasOwn(v, k)) {
        values.push(x);
        depths.push(d);
      }
    }
  }
  return { tooDeep: false, protoPath: proto ? protoKeyPath(value) : undefined };
}

/** The path of the first own `__proto__` key in a parsed value, or undefined (iterative). */
export function protoKeyPath(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], `${path}[${i}]`]);
      continue;
    }
    if (Object.hasOwn(v, '__proto__')) return `${path}.__proto__`;
    for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], `${path}.${k}`]);
  }
  return undefined;
}

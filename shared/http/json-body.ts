// The JSON body parser of every service: secure-json-parse (the parser fastify itself uses, which refuses
// `__proto__` and `constructor.prototype` keys) behind a nesting-depth check on the raw text. Deep documents would
// otherwise overflow the stack of recursive walkers later (JSON.stringify, structuredClone, validators) and answer
// 500. Fastify's default parser cannot be reused here: it reports every failure as "invalid JSON", while a refused
// prototype key deserves a message that names it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { jsonTextDepth } from '../rem/json-guard.js';
import { HttpError } from './errors.js';

export function installJsonBody(app: FastifyInstance, opts: { depthMax: number }): void {
  // fastify also parses text/plain by default; no route takes text, so a text body is refused with 415 like any
  // other type that is not JSON (rather than reaching the schema as a string and answering 400)
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req: FastifyRequest, body: string | Buffer, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.length === 0) return done(new HttpError(400, 'invalid_json', 'body is empty'), undefined);
    if (jsonTextDepth(text, opts.depthMax) > opts.depthMax) {
      return done(new HttpError(400, 'invalid_request', `body nests objects and arrays deeper than ${opts.depthMax} levels (PERCOLATE_JSON_DEPTH_MAX)`), undefined);
    }
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      if (err instanceof SyntaxError && /prototype property/.test(err.message)) {
        return done(new HttpError(400, 'invalid_request', 'body contains the key __proto__ (or constructor.prototype), which is not accepted'), undefined);
      }
      done(new HttpError(400, 'invalid_json', 'body is not valid JSON'), undefined);
    }
  });
}

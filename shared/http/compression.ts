// Response compression of every service (@fastify/compress): br or gzip as the client's Accept-Encoding prefers,
// for answers of at least PERCOLATE_HTTP_COMPRESS_BYTES_MIN bytes. /metrics is about 100 KB of text and search
// answers are JSON: both shrink several times. Event streams are not compressed: the chat route writes them to the
// raw socket itself (a compressor would buffer the tokens it must flush at once), and the type is excluded too.
import compress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';
import zlib from 'node:zlib';

/** Every compressible type except text/event-stream (JSON, text, the Prometheus exposition format). */
const COMPRESSIBLE = /^(?!text\/event-stream)(?:text\/|application\/(?:json|problem\+json|openmetrics-text|javascript|xml))/;

export async function installCompression(app: FastifyInstance, opts: { bytesMin: number }): Promise<void> {
  if (opts.bytesMin <= 0) return;
  await app.register(compress, {
    global: true,
    threshold: opts.bytesMin,
    encodings: ['br', 'gzip'],
    customTypes: COMPRESSIBLE,
    // brotli's default quality (11) costs ~10x the CPU of quality 4 for a few percent: a database answers many requests
    brotliOptions: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
    zlibOptions: { level: 6 },
    // request bodies are not decompressed: a gzip bomb would bypass the body limit's intent
  });
}

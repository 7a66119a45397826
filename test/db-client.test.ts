// The worker's database client over the shared retry helper: 408, 429, 5xx and connection errors are retried with
// doubling delays up to the attempt bound, any other 4xx is permanent at once. Against a real HTTP server (integration).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseClient, PermanentJobError } from '../services/worker/db-client.js';
import { freePort } from './support/ports.js';

let server: http.Server;
let url: string;
/** Statuses the server answers in turn (the last one repeats), and when each request arrived. */
let script: number[] = [];
let arrivals: number[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => {
      const status = script.length > 1 ? script.shift()! : script[0]!;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status < 300 ? '{"ids":["x"],"count":1}' : `{"error":{"code":"e${status}"}}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  script = [];
  arrivals = [];
});

describe('database client', () => {
  it('retries 503 and 429 with doubling delays and returns the answer', async () => {
    script = [503, 429, 201];
    const db = new DatabaseClient(url, { timeoutMs: 5_000, attempts: 4, backoffMs: 40 });
    await expect(db.post('t', '/api/v1/resources', { resources: [] })).resolves.toEqual({ ids: ['x'], count: 1 });
    expect(arrivals).toHaveLength(3);
    const gaps = [arrivals[1]! - arrivals[0]!, arrivals[2]! - arrivals[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(35); // 40 ms, then 80 ms (timers may fire a little early on some clocks)
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
  });

  it('gives up after the configured attempts, naming the last answer', async () => {
    script = [502];
    const db = new DatabaseClient(url, { timeoutMs: 5_000, attempts: 3, backoffMs: 1 });
    await expect(db.post('t', '/api/v1/resources', {})).rejects.toThrow(/^database write failed after 3 attempts: \/api\/v1\/resources answered 502: /);
    expect(arrivals).toHaveLength(3);
  });

  it('does not retry a 400: the request itself is wrong', async () => {
    script = [400, 201];
    const db = new DatabaseClient(url, { timeoutMs: 5_000, attempts: 4, backoffMs: 1 });
    const err = await db.post('t', '/api/v1/resources', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/^database rejected the write: \/api\/v1\/resources answered 400/);
    expect(arrivals).toHaveLength(1);
  });

  it('retries a connection that is refused, then reports it', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const db = new DatabaseClient(closed, { timeoutMs: 5_000, attempts: 2, backoffMs: 1 });
    await expect(db.post('t', '/api/v1/resources', {})).rejects.toThrow(/^database write failed after 2 attempts: \/api\/v1\/resources: .*ECONNREFUSED/);
  });
});

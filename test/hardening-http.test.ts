// Slow clients cannot hold the node's sockets forever: a request that trickles in (headers or body one byte at a
// time) is cut off by the request and header timeouts, and connections past the configured maximum are refused,
// so a few thousand such clients cannot exhaust the file descriptors every tenant needs.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeWhile, seedQuietTenant, startNodeProcess, type NodeProcess } from './support/hostile.js';
import { waitFor } from './support/wait.js';

let node: NodeProcess;
const QUIET = 'quiet';
const CONNECTIONS_MAX = 24;

beforeAll(async () => {
  node = await startNodeProcess({
    PERCOLATE_HTTP_REQUEST_TIMEOUT_MS: '1500',
    PERCOLATE_HTTP_HEADERS_TIMEOUT_MS: '1000',
    PERCOLATE_HTTP_CONNECTION_TIMEOUT_MS: '1000',
    PERCOLATE_HTTP_CONNECTIONS_MAX: String(CONNECTIONS_MAX),
  });
  await seedQuietTenant(node.url, QUIET);
});

afterAll(async () => {
  await node?.close();
});

interface SlowClient {
  socket: net.Socket;
  isClosed(): boolean;
  received(): string;
  stop(): void;
}

/** Connects and sends `head` then `body`, one byte every `everyMs`, until the server closes the socket. */
function trickle(url: string, head: string, body: string, everyMs: number): Promise<SlowClient> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    let closed = false;
    let got = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      closed = true;
      if (timer) clearInterval(timer);
    });
    socket.on('data', (d) => (got += d.toString()));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      const bytes = head + body;
      let i = 0;
      timer = setInterval(() => {
        if (closed || i >= bytes.length) return;
        socket.write(bytes[i++]!);
      }, everyMs);
      resolve({ socket, isClosed: () => closed, received: () => got, stop: () => { if (timer) clearInterval(timer); socket.destroy(); } });
    });
    socket.once('error', reject);
  });
}

const requestHead = (length: number) =>
  `POST /api/v1/resources HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Tenant-ID: slow\r\nContent-Length: ${length}\r\n\r\n`;

describe('slow clients', () => {
  it('cuts off requests whose body arrives one byte at a time, staying responsive meanwhile', async () => {
    const body = JSON.stringify({ uri: 'doc://slow', content: 'x'.repeat(2000) });
    // the head goes out at once, then the body trickles
    const clients = await Promise.all(Array.from({ length: 10 }, () => trickle(node.url, '', requestHead(body.length) + body, 50)));
    try {
      const cutOff = () => waitFor('the server to cut the slow clients off', async () => clients.every((c) => c.isClosed()), 15_000);
      const { responsiveness } = await probeWhile(node.url, cutOff, { otherTenant: QUIET });
      expect(responsiveness.healthMaxMs).toBeLessThan(250);
      expect(responsiveness.searchStatuses.every((s) => s === 200)).toBe(true);
      for (const c of clients) {
        expect(c.isClosed()).toBe(true);
        expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
      }
    } finally {
      for (const c of clients) c.stop();
    }
    expect((await node.call('GET', '/api/v1/resources', { tenant: 'slow' })).status).toBe(404); // nothing was written
  });

  it('cuts off requests whose headers arrive one byte at a time', async () => {
    const c = await trickle(node.url, requestHead(10), '', 40);
    try {
      await waitFor('the server to close the slow socket', async () => c.isClosed(), 10_000);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408|^$/);
    } finally {
      c.stop();
    }
  });

  it('refuses connections past PERCOLATE_HTTP_CONNECTIONS_MAX, and serves again once idle ones time out', async () => {
    const { hostname, port } = new URL(node.url);
    const sockets: { s: net.Socket; closed: boolean }[] = [];
    for (let i = 0; i < CONNECTIONS_MAX + 16; i++) {
      const s = net.connect({ host: hostname, port: Number(port) });
      const entry = { s, closed: false };
      s.on('close', () => (entry.closed = true));
      s.on('error', () => undefined);
      sockets.push(entry);
    }
    try {
      // the server drops what is over the cap as soon as it is accepted
      await waitFor('connections over the cap to be closed', async () => sockets.filter((x) => x.closed).length >= 16, 10_000);
      // the idle ones it kept send nothing: the idle timeout (PERCOLATE_HTTP_CONNECTION_TIMEOUT_MS) closes them
      await waitFor('idle connections to time out', async () => sockets.every((x) => x.closed), 15_000);
      expect((await node.call('GET', '/health/live', { tenant: null })).status).toBe(200);
    } finally {
      for (const x of sockets) x.s.destroy();
    }
  });
});

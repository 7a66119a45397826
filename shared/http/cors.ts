// CORS for browser apps (@fastify/cors), off unless PERCOLATE_CORS_ORIGINS names origins: preflight answered, the
// headers an app sends allowed (Authorization, X-Tenant-ID, X-Session-Id), and the ones it may read exposed.
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { CorsConfig } from '../config/auth-config.js';

export async function installCors(app: FastifyInstance, c: CorsConfig): Promise<void> {
  if (c.origins.length === 0) return;
  await app.register(cors, {
    origin: c.origins.includes('*') ? true : c.origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Tenant-ID', 'X-Session-Id', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'WWW-Authenticate', 'X-Served-By', 'X-Served-Zone'],
    maxAge: 600,
  });
}

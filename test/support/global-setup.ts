// Runs once before the suite: system packages the integration tests need are installed (or named) up front.
import { ensureBinary } from '../../scripts/system-deps.js';

export default function setup(): void {
  ensureBinary('nats-server', 'nats-server');
}

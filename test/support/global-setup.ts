// Runs once before the integration tests: the system packages they need must be installed already. This only checks
// (nothing is installed during a test run); scripts/install-system-deps.sh installs them, and .ci/run runs it first.
import { requireSystemBinaries } from '../../scripts/system-deps.js';

export default function setup(): void {
  // nats-server for replication and ingest; enscript and ghostscript's ps2pdf make the PDF fixtures (support/pdf.ts)
  requireSystemBinaries();
}

// Runs once before the suite: system packages the integration tests need are installed (or named) up front.
import { ensureBinary } from '../../scripts/system-deps.js';

export default function setup(): void {
  ensureBinary('nats-server', 'nats-server');
  // PDF fixtures (test/support/pdf.ts): enscript renders text to PostScript, ghostscript's ps2pdf makes the PDF
  ensureBinary('enscript', 'enscript');
  ensureBinary('ps2pdf', 'ghostscript');
}

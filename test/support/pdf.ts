// Real multi-page PDFs for tests and benchmarks, made by enscript (text to PostScript; a form feed starts a page)
// and ghostscript's ps2pdf. Both are Debian packages, installed by scripts/install-system-deps.sh.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { requireBinary } from '../../scripts/system-deps.js';

/** Writes `<dir>/<name>.pdf` with one page per entry of `pages` (lines wrap at word boundaries) and returns its bytes. */
export async function makePdf(dir: string, name: string, pages: readonly string[]): Promise<Buffer> {
  const enscript = requireBinary('enscript', 'enscript');
  const ps2pdf = requireBinary('ps2pdf', 'ghostscript');
  const txt = path.join(dir, `${name}.txt`);
  const ps = path.join(dir, `${name}.ps`);
  const pdf = path.join(dir, `${name}.pdf`);
  await fs.writeFile(txt, pages.join('\f'), 'latin1');
  execFileSync(enscript, ['-q', '-B', '--word-wrap', '-p', ps, txt], { stdio: 'ignore' });
  execFileSync(ps2pdf, [ps, pdf], { stdio: 'ignore' });
  return fs.readFile(pdf);
}

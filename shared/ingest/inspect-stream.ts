// A pass-through stream for uploads: counts bytes, hashes them (sha256), holds back the first bytes until the file
// type is decided, and fails the stream when the file is empty, too large, or of an unsupported type. Nothing is
// buffered beyond the detection head, so memory stays flat whatever the file size.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DETECT_HEAD_BYTES, detectFileKind, type FileKind } from './detect.js';

export type RejectReason = 'empty' | 'too_large' | 'unsupported';

export class UploadRejectedError extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

export class InspectStream extends Transform {
  bytes = 0;
  kind: FileKind | undefined;
  private readonly hash = createHash('sha256');
  private head: Buffer[] = [];
  private headBytes = 0;
  private digest: string | undefined;

  constructor(
    private readonly filename: string,
    private readonly bytesMax: number,
  ) {
    // a few socket reads of slack on each side, so the S3 uploader and the request stream rarely wait on each other
    super({ highWaterMark: 1024 * 1024 });
  }

  /** The sha256 (hex) of everything that passed; available once the stream has ended. */
  get sha256(): string {
    if (this.digest === undefined) throw new Error('sha256 is known only after the stream ended');
    return this.digest;
  }

  private decide(truncated: boolean): void {
    const head = Buffer.concat(this.head, this.headBytes);
    const d = detectFileKind(head, this.filename, truncated);
    if (!d.ok) throw new UploadRejectedError(this.headBytes === 0 ? 'empty' : 'unsupported', d.reason);
    this.kind = d.kind;
    this.head = [];
    this.push(head);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.bytes += chunk.length;
      if (this.bytes > this.bytesMax) throw new UploadRejectedError('too_large', `the file is larger than the limit of ${this.bytesMax} bytes`);
      this.hash.update(chunk);
      if (this.kind !== undefined) {
        done(null, chunk);
        return;
      }
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (this.headBytes >= DETECT_HEAD_BYTES) this.decide(true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.bytes === 0) throw new UploadRejectedError('empty', 'the file is empty');
      if (this.kind === undefined) this.decide(false);
      this.digest = this.hash.digest('hex');
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

// A byte-bounded LRU of records as their stored JSON, per tenant store. Hydrating search hits from LevelDB costs a
// native call per record; from here it is a map lookup and a JSON.parse. Writes invalidate; reads populate.

export class RecordCache {
  private readonly entries = new Map<string, string>();
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get(key: string): string | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      // refresh recency: Map iteration order is insertion order
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, json: string): void {
    if (this.bytesMax <= 0 || json.length > this.bytesMax / 8) return;
    this.delete(key);
    this.entries.set(key, json);
    this.bytes += json.length + key.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.bytesMax) break;
      this.entries.delete(k);
      this.bytes -= v.length + k.length;
    }
  }

  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.bytes -= v.length + key.length;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/** A Prometheus histogram with fixed buckets (seconds), cheap enough for the hot path. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  /** Prometheus text lines for this histogram (cumulative buckets, +Inf, sum, count). */
  render(name: string, labels = ''): string[] {
    const out: string[] = [];
    let acc = 0;
    const sep = labels ? `${labels},` : '';
    for (let i = 0; i < this.buckets.length; i++) {
      acc += this.counts[i]!;
      out.push(`${name}_bucket{${sep}le="${this.buckets[i]}"} ${acc}`);
    }
    out.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    out.push(`${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`);
    out.push(`${name}_count${labels ? `{${labels}}` : ''} ${this.count}`);
    return out;
  }
}

export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const;

// Merging leaves into ranges the way Linux ptdump prints them: a new range starts whenever the
// VA is not contiguous, or effective rights, memory type, level, global or the root change.
// Accessed/dirty differ page by page and are not part of the key (the range keeps the OR).
import { Flag } from '../format';
import { Root } from '../space';
import { Leaf } from '../walker';

export interface MergedRange {
  root: Root;
  /** Linear start and exclusive end. */
  start: number;
  end: number;
  /** PA of the first page. */
  pa: number;
  /** True while every page follows the previous one physically. */
  paContiguous: boolean;
  pages: number;
  perms: number;
  flags: number;
  memType: number;
  level: number;
  leafSize: number;
}

export class RangeMerger {
  private readonly out: MergedRange[] = [];
  private cur: MergedRange | undefined;
  private nextPa = 0;

  constructor(private readonly opts: { requirePaContiguous?: boolean } = {}) {}

  push(l: Leaf): void {
    const c = this.cur;
    const pa = l.pa as number;
    if (
      c && c.root === l.root && c.end === l.linear && c.perms === l.perms && c.memType === l.memType &&
      c.level === l.level && (c.flags & Flag.Global) === (l.flags & Flag.Global) &&
      (!this.opts.requirePaContiguous || pa === this.nextPa)
    ) {
      c.end += l.size;
      c.pages++;
      c.flags |= l.flags;
      if (pa !== this.nextPa) c.paContiguous = false;
      this.nextPa = pa + l.size;
      return;
    }
    this.cur = {
      root: l.root, start: l.linear, end: l.linear + l.size, pa, paContiguous: true, pages: 1, perms: l.perms,
      flags: l.flags, memType: l.memType, level: l.level, leafSize: l.size,
    };
    this.nextPa = pa + l.size;
    this.out.push(this.cur);
  }

  finish(): MergedRange[] {
    this.cur = undefined;
    return this.out;
  }
}

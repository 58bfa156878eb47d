// Effective rights as named booleans, and where each missing right was removed.
import { EntryKind, PERM_NAMES, Perm } from '../format';
import { Leaf, PathStep } from '../walker';

export interface Rights {
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  readonly user: boolean;
  readonly userExec: boolean;
}

export function effectiveRights(perms: number): Rights {
  return {
    read: (perms & Perm.Read) !== 0,
    write: (perms & Perm.Write) !== 0,
    exec: (perms & Perm.Exec) !== 0,
    user: (perms & Perm.User) !== 0,
    userExec: (perms & Perm.UserExec) !== 0,
  };
}

export function rightsString(perms: number): string {
  const r = effectiveRights(perms);
  return `${r.read ? 'r' : '-'}${r.write ? 'w' : '-'}${r.exec ? 'x' : '-'} ${r.user ? 'u' : '-'}${r.userExec ? 'X' : '-'}`;
}

export interface Provenance {
  readonly perm: Perm;
  readonly permName: string;
  /** Index into format.levels. */
  readonly level: number;
  readonly levelName: string;
  readonly index: number;
  readonly because: string;
}

/** For each right the leaf lacks, the first level (from the root) that removed it, and why. */
export function provenance(leaf: Leaf): Provenance[] {
  const f = leaf.root.format;
  const steps: PathStep[] = [];
  for (let s = leaf.path; s; s = s.parent) steps.unshift(s);
  const out: Provenance[] = [];
  const seen = new Set<Perm>();
  const note = (level: number, index: number, lo: number, hi: number, kind: EntryKind) => {
    for (const r of f.explainRestrictions(lo, hi, level, kind)) {
      if (seen.has(r.perm) || (leaf.perms & r.perm) !== 0) continue;
      seen.add(r.perm);
      const permName = PERM_NAMES.find(([p]) => p === r.perm)?.[1] ?? String(r.perm);
      out.push({ perm: r.perm, permName, level, levelName: f.levels[level].name, index, because: r.because });
    }
  };
  for (const s of steps) note(s.level, s.index, s.lo, s.hi, EntryKind.Table);
  note(leaf.level, leaf.index, leaf.lo, leaf.hi, EntryKind.Leaf);
  // Rights the leaf never granted and no bit "removed" (e.g. a read-only leaf).
  for (const [p, name] of PERM_NAMES) {
    if ((leaf.perms & p) === 0 && !seen.has(p)) {
      out.push({ perm: p, permName: name, level: leaf.level, levelName: f.levels[leaf.level].name, index: leaf.index, because: 'not granted by the leaf' });
    }
  }
  return out;
}

// Effective rights as named booleans, and where each missing right was removed (provenance).
import { EntryKind, PERM_NAMES, Perm } from '../format';
import { Leaf, PathStep } from '../walker';

/** The seven rights fields of contract v2 (see Perm in format.ts for the actors). */
export interface Rights {
  /** Privileged read, write, execute. */
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  /** Unprivileged read, write, execute. */
  readonly userRead: boolean;
  readonly userWrite: boolean;
  readonly userExec: boolean;
  /** userRead || userWrite: the page is open to user data access. */
  readonly user: boolean;
}

export function effectiveRights(perms: number): Rights {
  return {
    read: (perms & Perm.Read) !== 0,
    write: (perms & Perm.Write) !== 0,
    exec: (perms & Perm.Exec) !== 0,
    userRead: (perms & Perm.UserRead) !== 0,
    userWrite: (perms & Perm.UserWrite) !== 0,
    userExec: (perms & Perm.UserExec) !== 0,
    user: (perms & (Perm.UserRead | Perm.UserWrite)) !== 0,
  };
}

/** "rwx rwx" style: privileged read/write/exec, then unprivileged read/write/exec. */
export function rightsString(perms: number): string {
  return rightsLetters(effectiveRights(perms));
}

/** rightsString of named rights (records, aliases). */
export function rightsLetters(r: Omit<Rights, 'user'>): string {
  const b = (v: boolean, c: string) => (v ? c : '-');
  return `${b(r.read, 'r')}${b(r.write, 'w')}${b(r.exec, 'x')} ${b(r.userRead, 'r')}${b(r.userWrite, 'w')}${b(r.userExec, 'x')}`;
}

export function permName(p: Perm): string {
  return PERM_NAMES.find(([q]) => q === p)?.[1] ?? String(p);
}

export interface Provenance {
  readonly perm: Perm;
  readonly permName: string;
  /** Index into format.levels. */
  readonly level: number;
  readonly levelName: string;
  /** Entry index in its table. */
  readonly index: number;
  /** The bit or register that removed the right, in the architecture's words ("PDPT R/W=0"). */
  readonly because: string;
}

/**
 * For each right the leaf lacks, the FIRST entry walking down from the root that removed it and
 * why, in Perm order. Table entries count only where the walk's cumulative rights actually lost
 * the right there; the leaf's own reasons (including register rules the format reports at the
 * leaf: SMEP, WXN, ...) come last. A right nothing explains is reported as not granted by the leaf.
 */
export function provenance(leaf: Leaf): Provenance[] {
  const f = leaf.root.format;
  const steps: PathStep[] = [];
  for (let s = leaf.path; s; s = s.parent) steps.push(s);
  steps.reverse();
  const found = new Map<Perm, Provenance>();
  const missing = ~leaf.perms & Perm.All;
  if (missing === 0) return [];
  const note = (level: number, index: number, lo: number, hi: number, kind: EntryKind, stillAllowed: number) => {
    for (const r of f.explainRestrictions(lo, hi, level, kind)) {
      if (found.has(r.perm) || (missing & r.perm) === 0 || (stillAllowed & r.perm) !== 0) continue;
      found.set(r.perm, { perm: r.perm, permName: permName(r.perm), level, levelName: f.levels[level].name, index, because: r.because });
    }
  };
  for (const s of steps) note(s.level, s.index, s.lo, s.hi, EntryKind.Table, s.allowed);
  note(leaf.level, leaf.index, leaf.lo, leaf.hi, EntryKind.Leaf, leaf.perms);
  const out: Provenance[] = [];
  for (const [p, name] of PERM_NAMES) {
    if ((missing & p) === 0) continue;
    out.push(found.get(p) ?? {
      perm: p, permName: name, level: leaf.level, levelName: f.levels[leaf.level].name, index: leaf.index,
      because: `not granted by the ${f.levels[leaf.level].name} entry`,
    });
  }
  return out;
}

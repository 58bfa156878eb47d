// Linux x86_64's ESPfix area in miniature (arch/x86/kernel/espfix_64.c, 4-level paging):
// ESPFIX_BASE_ADDR = ESPFIX_PGD_ENTRY (-2) << P4D_SHIFT = 0xffffff0000000000; on one CPU a single
// read-only stack page mapped every 64 KiB (one present PTE in 16) over 4 GiB, through PUD
// entries 0..3 that all point to one PMD whose 512 entries all point to one PTE table: 65,536
// leaves, 32 distinct PTEs. Plus the same page once more just after the area, off the stride.
import { x86_64 } from './randomTables';
import { SparseMemory } from './sparseMemory';

export const ESPFIX_VA = 0xffff_ff00_0000_0000n;

export function espfixMemory(base = 0x100000): { mem: SparseMemory; pml4: number; page: number } {
  const mem = new SparseMemory();
  const ro = { write: false, user: false, exec: false };
  const table = { write: true, user: false, exec: true };
  const pml4 = base;
  const pud = base + 0x1000;
  const pmd = base + 0x2000;
  const pte = base + 0x3000;
  const page = 0x5000000;
  mem.write64(pml4 + 8 * 510, x86_64.table(pud, table));
  for (let i = 0; i < 4; i++) mem.write64(pud + 8 * i, x86_64.table(pmd, table));
  for (let i = 0; i < 512; i++) mem.write64(pmd + 8 * i, x86_64.table(pte, table));
  for (let i = 0; i < 512; i += 16) mem.write64(pte + 8 * i, x86_64.leaf(page, 3, ro));
  // 0xffffff0100001000: the page again, 0x11000 after the last copy.
  mem.write64(pud + 8 * 4, x86_64.table(pmd + 0x2000, table));
  mem.write64(pmd + 0x2000, x86_64.table(pte + 0x2000, table));
  mem.write64(pte + 0x2000 + 8, x86_64.leaf(page, 3, ro));
  return { mem, pml4, page };
}

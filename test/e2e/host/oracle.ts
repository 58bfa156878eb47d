// What the fixture learned from QEMU before VS Code started (written to $PTVIEW_E2E_ORACLE).
export interface Oracle {
  port: number;
  kernel: string;
  cr3: string;
  /** info mem ranges: start, exclusive end (hex), effective user and write. */
  mem: { start: string; end: string; user: boolean; write: boolean }[];
  /** info tlb leaves: VA, frame, and the leaf's own XD / U/S / R/W / PS bits. */
  tlb: { va: string; frame: string; nx: boolean; user: boolean; write: boolean; pse: boolean }[];
  /** gva2gpa of probed VAs (null: unmapped). */
  gpa: Record<string, string | null>;
}

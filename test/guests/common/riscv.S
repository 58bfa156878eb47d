/*
 * ptview RISC-V test guest: builds Sv39 (or Sv48/Sv57 with SV=48/57) tables in M-mode, enables
 * satp, drops to S-mode with mret, prints PTVIEW-READY on the virt UART and waits in wfi. The
 * layout is documented in test/guests/README.md; each mapping exercises one rule.
 * Before READY, S-mode probes its own rights: a load (lb) and a store of the byte it read (sb:
 * a store is only ever allowed where the load was, so memory keeps its value) on every VA of
 * `probes`, with sstatus SUM=0/MXR=0, SUM=1 and MXR=1; the trap cause (or -1) of each lands in
 * `results` (6 dwords per VA), for tests to compare with. (QEMU 7.2 reports a load fault for an
 * AMO to an unreadable page, hence no AMO.)
 */
        .macro PTE table, idx, pa, flags
        li t1, \table + 8*(\idx)
        li t2, (((\pa) >> 12) << 10) | (\flags)
        sd t2, 0(t1)
        .endm
        .set V,1
        .set R,2
        .set W,4
        .set X,8
        .set U,16
        .set G,32
        .set A,64
        .set D,128
        .set TOP, 0x80100000
        .set L1A, 0x80101000
        .set L1B, 0x80102000
        .set L0C, 0x80103000
        .set L0D, 0x80104000
.if SV == 39
        .set L2, TOP
        .set MODE, 8
.else
        .set L2, 0x80105000
.endif
.if SV == 48
        .set L3, TOP
        .set MODE, 9
.endif
.if SV == 57
        .set L3, 0x80106000
        .set MODE, 10
.endif
        .option norelax                             /* keep .balign where it is */
        .text
        .globl _start
_start:
        li t1, TOP
        li t2, TOP + 0x7000
1:      sd zero, 0(t1)
        addi t1, t1, 8
        blt t1, t2, 1b

        PTE L2, 0, 0x00000000, V|R|W|A|D            /* 1 GiB: devices (UART), kernel RW */
        PTE L2, 1, L1A, V
        PTE L2, 2, 0x80000000, V|R|W|X|A|D          /* 1 GiB identity for the code */
        PTE L2, 256, 0x80000000, V|R|W|G|A|D        /* direct map, not executable */
        PTE L2, 510, L1B, V                         /* kernel image at 0xffffffff80000000 */
        PTE L1A, 0, 0x80200000, V|R|W|U|A|D         /* 2 MiB user RW */
        PTE L1A, 1, L0D, V
        PTE L1A, 2, 0x80201000, V|R|W|A|D           /* misaligned superpage: faults */
        PTE L0D, 0, 0x80300000, V|R|U|A
        PTE L0D, 1, 0x80301000, V|R|X|U|A
        PTE L0D, 2, 0x80302000, V|R|W|X|U|A|D
        PTE L0D, 3, 0x80303000, V|X|U|A             /* execute-only user page */
        PTE L0D, 4, 0x80304000, V|R|W|U             /* A clear */
        PTE L1B, 0, L0C, V
        PTE L1B, 1, 0x80400000, V|R|G|A             /* 2 MiB kernel rodata */
        PTE L0C, 0, 0x80000000, V|R|X|G|A           /* kernel text */
        PTE L0C, 1, 0x80001000, V|R|G|A
        PTE L0C, 2, 0x80002000, V|R|W|G|A|D
        PTE L0C, 3, 0x80000000, V|R|W|G|A|D         /* writable alias of text */
        PTE L0C, 4, 0x80005000, V|X|G|A             /* execute-only kernel page */
.if SV >= 48
        PTE L3, 0, L2, V
        PTE L3, 1, 0x0000000000, V|R|W|A|D          /* 512 GiB page at VA 0x8000000000 */
        PTE L3, 511, L2, V                          /* upper half shares the same L2 */
.endif
.if SV == 57
        PTE TOP, 0, L3, V
        PTE TOP, 511, L3, V
.endif
        li t0, (1 << 5) | (1 << 7) | (1 << 13) | (1 << 15)   /* access and page faults → S */
        csrw medeleg, t0
        la t0, trap
        csrw stvec, t0
        li t0, -1
        csrw pmpaddr0, t0
        li t0, 0x1f
        csrw pmpcfg0, t0
        li t0, (MODE << 60) | (TOP >> 12)
        csrw satp, t0
        sfence.vma
        li t0, 3 << 11
        csrc mstatus, t0
        li t0, 1 << 11                              /* MPP = S */
        csrs mstatus, t0
        la t0, smode
        csrw mepc, t0
        mret
        .balign 4
smode:
        .option push
        .option norvc                               /* the trap handler skips 4-byte insns */
        la s2, probes
        la s3, results
        ld s4, 0(s2)
        addi s2, s2, 8
        li s7, (1 << 18) | (1 << 19)                /* SUM | MXR */
4:      beqz s4, 5f
        ld s5, 0(s2)
        csrc sstatus, s7
        call probe2
        li t0, 1 << 18
        csrs sstatus, t0
        call probe2
        csrc sstatus, s7
        li t0, 1 << 19
        csrs sstatus, t0
        call probe2
        csrc sstatus, s7
        addi s2, s2, 8
        addi s4, s4, -1
        j 4b
probe2: li s11, -1
        lb t1, 0(s5)
        sd s11, 0(s3)
        li s11, -1
        sb t1, 0(s5)                                /* stores what the load read */
        sd s11, 8(s3)
        addi s3, s3, 16
        ret
        .balign 4                                   /* stvec needs a 4-byte aligned handler */
trap:   csrr s11, scause
        csrr t6, sepc
        addi t6, t6, 4
        csrw sepc, t6
        sret
        .option pop
5:      la a0, msg
        li a1, 0x10000000
2:      lbu t0, 0(a0)
        beqz t0, 3f
        sb t0, 0(a1)
        addi a0, a0, 1
        j 2b
3:      wfi
        j 3b
msg:    .asciz "PTVIEW-READY\n"
        .balign 8
        .globl probes, results
        /* RAM-backed or unmapped VAs only (no MMIO), and not the A-clear page (a load would set A) */
probes: .dword (probes_end - probes) / 8 - 1
        .dword 0x40000000, 0x40100000, 0x40200000, 0x40201000, 0x40202000, 0x40203000, 0x40205000
        .dword 0x40400000, 0x40600000, 0x80000000, 0x80001000, 0xc0000000
        .dword 0xffffffc000000000, 0xffffffc000100000, 0xffffffff80000000, 0xffffffff80001000
        .dword 0xffffffff80002000, 0xffffffff80003000, 0xffffffff80004000, 0xffffffff80005000
        .dword 0xffffffff80200000, 0xffffffff80400000, 0x4000000000
.if SV >= 48
        .dword 0x7f80000000, 0x8080000000, 0x8080001000, 0xffffff8040000000, 0xffffff8040203000
.endif
.if SV == 57
        .dword 0xffff000040000000, 0xffff008080000000, 0xff00000040000000
.endif
probes_end:
results: .fill 64 * 6, 8, 0

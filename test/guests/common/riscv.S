/*
 * ptview RISC-V test guest: builds Sv39 (or Sv48/Sv57 with SV=48/57) tables in M-mode, enables
 * satp, drops to S-mode with mret, prints PTVIEW-READY on the virt UART and waits in wfi. The
 * layout is documented in test/guests/README.md; each mapping exercises one rule.
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
smode:
        la a0, msg
        li a1, 0x10000000
2:      lbu t0, 0(a0)
        beqz t0, 3f
        sb t0, 0(a1)
        addi a0, a0, 1
        j 2b
3:      wfi
        j 3b
msg:    .asciz "PTVIEW-READY\n"

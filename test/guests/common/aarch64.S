/*
 * ptview AArch64 test guest (EL1, QEMU virt, -cpu max): static stage 1 tables for TTBR0_EL1 and
 * TTBR1_EL1 with a 4K, 16K or 64K granule (--defsym GRAN=4/16/64), then MMU on, PTVIEW-READY on
 * the PL011 through its TTBR1 mapping, and wfi forever. The tables are data in the image (linked
 * at 0x40080000, RAM starts at 0x40000000); each entry exercises one rule, see
 * test/guests/README.md and expect.json.
 */
        .set V, 1
        .set TB, 3                          /* table (levels 0-2) or page (level 3) */
        .set BLK, 1                         /* block; at level 3 a reserved encoding */
        .set AP_EL0, 1 << 6                 /* AP[1]: EL0 data access */
        .set AP_RO, 1 << 7                  /* AP[2]: read-only */
        .set SH_IS, 3 << 8
        .set AF, 1 << 10
        .set NG, 1 << 11
        .set CONT, 1 << 52
        .set PXN, 1 << 53
        .set UXN, 1 << 54
        .set XN, PXN | UXN
        .set PXNT, 1 << 59
        .set UXNT, 1 << 60
        .set APT_NOEL0, 1 << 61
        .set APT_RO, 1 << 62
        /* MAIR_EL1: 0 Normal WB, 1 Normal NC, 2 Device-nGnRE, 3 Device-nGnRnE, 4 Normal WT */
        .set MAIR, 0x000000bb000444ff
        .set N, AF | SH_IS | (0 << 2)       /* normal WB, accessed, EL1 RW, executable */
        .set NC, AF | SH_IS | (1 << 2)
        .set DEV, AF | (2 << 2) | XN
        .set DEV0, AF | (3 << 2) | XN
        .set WT, AF | SH_IS | (4 << 2)
        .set TCR_COMMON, (1 << 8) | (1 << 10) | (3 << 12) | (1 << 24) | (1 << 26) | (3 << 28) | (5 << 32)

        .macro E table, idx, val            /* entries in ascending index order */
        .org \table + 8 * (\idx)
        .quad \val
        .endm
        .macro TABLE name, entries
        .balign 64                          /* TTBR alignment for roots under 64 bytes */
        .balign 8 * (\entries)
\name:
        .endm
        .macro END table, entries
        .org \table + 8 * (\entries)
        .endm
        .macro PROBE base, count=1, stride=0
        .quad \base, \count, \stride
        .endm

        .text
        .globl _start
_start:
        ldr x0, =MAIR
        msr mair_el1, x0
        ldr x0, =TCR
        msr tcr_el1, x0
        ldr x0, =ttbr0_root + (5 << 48)     /* ASID 5 */
        msr ttbr0_el1, x0
        ldr x0, =ttbr1_root
        msr ttbr1_el1, x0
        isb
        tlbi vmalle1
        dsb sy
        isb
        mrs x0, sctlr_el1
        orr x0, x0, #1                      /* M */
        bic x0, x0, #(1 << 19)              /* WXN off */
        msr sctlr_el1, x0
        isb
        ldr x4, =probes
        ldr x5, =results
3:      ldp x6, x7, [x4], #16               /* base, count */
        ldr x8, [x4], #8                    /* stride */
        cbz x7, 5f
4:      at s1e1r, x6
        isb
        mrs x9, par_el1
        at s1e1w, x6
        isb
        mrs x10, par_el1
        at s1e0r, x6
        isb
        mrs x11, par_el1
        at s1e0w, x6
        isb
        mrs x12, par_el1
        stp x9, x10, [x5], #16
        stp x11, x12, [x5], #16
        add x6, x6, x8
        subs x7, x7, #1
        b.ne 4b
        b 3b
5:      ldr x1, =UART_VA                    /* the PL011 through TTBR1 */
        adr x2, msg
1:      ldrb w3, [x2], #1
        cbz w3, 2f
        strb w3, [x1]
        b 1b
2:      wfi
        b 2b
msg:    .asciz "PTVIEW-READY\n"
        .ltorg
        .balign 64
        .globl results
results: .fill 512 * 32, 1, 0                /* PAR_EL1 after AT S1E1R, S1E1W, S1E0R, S1E0W */

.if GRAN == 4
/* 48-bit halves (T0SZ = T1SZ = 16): L0 512G, L1 1G blocks, L2 2M blocks, L3 4K pages. */
        .set TCR, TCR_COMMON | 16 | (0 << 14) | (16 << 16) | (2 << 30)
        .set UART_VA, 0xffffffff80003000
        .set ttbr0_root, L0_0
        .set ttbr1_root, L0_1
        .globl probes
probes: PROBE 0x40200000, 48, 0x1000             /* L3_0 */
        PROBE 0x40000000, 8, 0x200000           /* L2_0[0..7] */
        PROBE 0x41e00000, 18, 0x200000          /* around the contiguous blocks */
        PROBE 0x09000000
        PROBE 0x80000000
        PROBE 0xc0000000, 3, 0x200000
        PROBE 0xc0200000, 2, 0x1000
        PROBE 0x8040200000, 48, 0x1000          /* the same through L0_0[1] */
        PROBE 0x8040000000, 8, 0x200000
        PROBE 0x80c0000000, 2, 0x200000
        PROBE 0x80c0200000, 2, 0x1000
        PROBE 0xffffffff80000000, 6, 0x1000
        PROBE 0xffffffff80200000, 2, 0x200000
        PROBE 0xffffff8000000000, 2, 0x40000000
        PROBE 0xffff807f80000000, 6, 0x1000
        PROBE 0xffff800000000000
        PROBE 0x1000000000000                   /* in neither half */
        PROBE 0, 0, 0
        TABLE L0_0, 512
        E L0_0, 0, L1_0 + TB
        E L0_0, 1, L1_0 + TB + APT_NOEL0 + UXNT         /* 0x8000000000: same L1, no EL0 below */
        END L0_0, 512
        TABLE L1_0, 512
        E L1_0, 0, 0x00000000 | BLK | DEV               /* 1G devices, identity */
        E L1_0, 1, L2_0 + TB                            /* 0x40000000 */
        E L1_0, 2, 0x40000000 | BLK | N | NG | XN       /* 0x80000000: 1G EL1 RW, not global */
        E L1_0, 3, L2_1 + TB + APT_RO + PXNT            /* 0xc0000000: no write, no EL1 exec below */
        END L1_0, 512
        TABLE L2_0, 512
        E L2_0, 0, 0x40000000 | BLK | N                 /* 2M kernel RWX, identity */
        E L2_0, 1, L3_0 + TB                            /* 0x40200000 */
        E L2_0, 2, 0x40400000 | BLK | NC | AP_EL0 | NG | UXN   /* EL0 RW: implicit PXN */
        E L2_0, 3, 0x40600000 | BLK | SH_IS             /* AF clear: access flag fault */
        .set i, 0
        .rept 16                                        /* 0x42000000: 32M contiguous, EL0 R-X */
        E L2_0, 16 + i, (0x42000000 + i * 0x200000) | BLK | WT | AP_EL0 | AP_RO | PXN | CONT | NG
        .set i, i + 1
        .endr
        END L2_0, 512
        TABLE L3_0, 512
        E L3_0, 0, 0x40200000 | TB | N | AP_RO | XN     /* EL1 R-- */
        E L3_0, 1, 0x40201000 | TB | N | AP_EL0 | UXN | NG     /* EL0 RW, implicit PXN */
        E L3_0, 2, 0x40202000 | TB | N | AP_EL0 | AP_RO | PXN | NG   /* EL0 R-X */
        E L3_0, 3, 0x40203000 | TB | DEV0               /* Device-nGnRnE */
        E L3_0, 4, 0x40080000 | TB | N | XN             /* writable alias of the kernel text */
        .set i, 0
        .rept 16                                        /* 0x40210000: 64K contiguous */
        E L3_0, 16 + i, (0x40310000 + i * 0x1000) | TB | N | CONT | XN | NG
        .set i, i + 1
        .endr
        E L3_0, 32, 0x40240000 | TB | N | AP_EL0 | PXN  /* EL0 RWX */
        E L3_0, 34, 0x40242000 | BLK | N                /* block encoding at L3: reserved */
        END L3_0, 512
        TABLE L2_1, 512
        E L2_1, 0, 0x40800000 | BLK | N | AP_EL0        /* EL0 RW leaf under APTable RO */
        E L2_1, 1, L3_1 + TB                            /* 0xc0200000 */
        END L2_1, 512
        TABLE L3_1, 512
        E L3_1, 0, 0x40a00000 | TB | N                  /* EL1 RWX leaf → R-- */
        END L3_1, 512

        TABLE L0_1, 512
        E L0_1, 256, L1_1 + TB + PXNT + UXNT            /* 0xffff800000000000: never executable */
        E L0_1, 511, L1_1 + TB                          /* 0xffffff8000000000 */
        END L0_1, 512
        TABLE L1_1, 512
        E L1_1, 0, 0x40000000 | BLK | N | XN            /* 1G linear map, global */
        E L1_1, 510, L2_2 + TB                          /* 0xffffffff80000000 */
        END L1_1, 512
        TABLE L2_2, 512
        E L2_2, 0, L3_2 + TB
        E L2_2, 1, 0x40000000 | BLK | N | AP_RO | XN    /* 0xffffffff80200000: 2M EL1 R-- */
        END L2_2, 512
        TABLE L3_2, 512
        E L3_2, 0, 0x40080000 | TB | N | AP_RO | UXN    /* kernel text R-X */
        E L3_2, 1, 0x40081000 | TB | N | AP_RO | XN     /* rodata */
        E L3_2, 2, 0x40082000 | TB | N | XN             /* data */
        E L3_2, 3, 0x09000000 | TB | DEV                /* PL011 */
        END L3_2, 512
.endif

.if GRAN == 16
/* TTBR0 48-bit (T0SZ 16): L0 has 2 entries; TTBR1 39-bit (T1SZ 25): starts at L1 with 8
 * entries. L1 64G (no blocks), L2 32M blocks, L3 16K pages. TBI0: TTBR0 ignores the top byte. */
        .set TCR, TCR_COMMON | 16 | (2 << 14) | (25 << 16) | (1 << 30) | (1 << 37)
        .set UART_VA, 0xffffffff8000c000
        .set ttbr0_root, L0_0
        .set ttbr1_root, L1_1
        .globl probes
probes: PROBE 0x42000000, 16, 0x4000             /* L3_0 */
        PROBE 0x421fc000, 3, 0x4000
        PROBE 0x423fc000, 4, 0x4000
        PROBE 0x40000000, 8, 0x2000000          /* L2_0[32..39] */
        PROBE 0x08000000, 2, 0x2000000
        PROBE 0x7e000000, 3, 0x2000000          /* around the contiguous blocks */
        PROBE 0xbe000000, 2, 0x2000000
        PROBE 0x1000000000, 2, 0x2000000
        PROBE 0x1002000000, 2, 0x4000
        PROBE 0x5a00000042004000                /* tagged (TBI0) */
        PROBE 0xff00000040080000
        PROBE 0xff80000040080000
        PROBE 0x800042000000, 16, 0x4000        /* the same through L0_0[1] */
        PROBE 0x800040000000, 4, 0x2000000
        PROBE 0x801000000000, 2, 0x2000000
        PROBE 0xffffffff80000000, 5, 0x4000
        PROBE 0xffffffff82000000, 2, 0x2000000
        PROBE 0xfffffff000000000, 2, 0x2000000
        PROBE 0xffffff8f80000000, 5, 0x4000
        PROBE 0xffffff8000000000
        PROBE 0xffffff7fffff0000                /* below the TTBR1 range */
        PROBE 0, 0, 0
        TABLE L0_0, 2
        E L0_0, 0, L1_0 + TB
        E L0_0, 1, L1_0 + TB + APT_NOEL0 + UXNT         /* 0x800000000000 */
        END L0_0, 2
        TABLE L1_0, 2048
        E L1_0, 0, L2_0 + TB
        E L1_0, 1, L2_1 + TB + APT_RO + PXNT            /* 0x1000000000 */
        END L1_0, 2048
        TABLE L2_0, 2048
        E L2_0, 4, 0x08000000 | BLK | DEV               /* 32M devices with the PL011, identity */
        E L2_0, 32, 0x40000000 | BLK | N                /* 0x40000000: 32M kernel RWX */
        E L2_0, 33, L3_0 + TB                           /* 0x42000000 */
        E L2_0, 34, 0x40000000 | BLK | NC | AP_EL0 | NG | UXN  /* EL0 RW alias: implicit PXN */
        E L2_0, 35, 0x42000000 | BLK | SH_IS            /* AF clear */
        .set i, 0
        .rept 32                                        /* 0x80000000: 1G contiguous, EL0 R-X */
        E L2_0, 64 + i, (0x80000000 + i * 0x2000000) | BLK | WT | AP_EL0 | AP_RO | PXN | CONT | NG
        .set i, i + 1
        .endr
        END L2_0, 2048
        TABLE L3_0, 2048
        E L3_0, 0, 0x40200000 | TB | N | AP_RO | XN
        E L3_0, 1, 0x40204000 | TB | N | AP_EL0 | UXN | NG
        E L3_0, 2, 0x40208000 | TB | N | AP_EL0 | AP_RO | PXN | NG
        E L3_0, 3, 0x4020c000 | TB | DEV0
        E L3_0, 4, 0x40080000 | TB | N | XN             /* writable alias of the kernel text */
        .set i, 0
        .rept 128                                       /* 0x42200000: 2M contiguous */
        E L3_0, 128 + i, (0x40400000 + i * 0x4000) | TB | N | CONT | XN | NG
        .set i, i + 1
        .endr
        E L3_0, 256, 0x40240000 | TB | N | AP_EL0 | PXN /* EL0 RWX */
        E L3_0, 258, 0x40248000 | BLK | N               /* reserved at L3 */
        END L3_0, 2048
        TABLE L2_1, 2048
        E L2_1, 0, 0x42000000 | BLK | N | AP_EL0
        E L2_1, 1, L3_1 + TB                            /* 0x1002000000 */
        END L2_1, 2048
        TABLE L3_1, 2048
        E L3_1, 0, 0x40a00000 | TB | N
        END L3_1, 2048

        TABLE L1_1, 8
        E L1_1, 0, L2_2 + TB + PXNT + UXNT              /* 0xffffff8000000000: never executable */
        E L1_1, 7, L2_2 + TB                            /* 0xfffffff000000000 */
        END L1_1, 8
        TABLE L2_2, 2048
        E L2_2, 0, 0x40000000 | BLK | N | XN            /* 32M linear map */
        E L2_2, 1984, L3_2 + TB                         /* 0xffffffff80000000 */
        E L2_2, 1985, 0x40000000 | BLK | N | AP_RO | XN /* 0xffffffff82000000 */
        END L2_2, 2048
        TABLE L3_2, 2048
        E L3_2, 0, 0x40080000 | TB | N | AP_RO | UXN
        E L3_2, 1, 0x40084000 | TB | N | AP_RO | XN
        E L3_2, 2, 0x40088000 | TB | N | XN
        E L3_2, 3, 0x09000000 | TB | DEV
        END L3_2, 2048
.endif

.if GRAN == 52
/* Both halves 52-bit (T0SZ = T1SZ = 12): L1 has 1024 entries (4T each, blocks allowed with
 * 52-bit output), L2 512M blocks, L3 64K pages. IPS = 52 bits. */
        .set TCR, (TCR_COMMON & ~(7 << 32)) | (6 << 32) | 12 | (1 << 14) | (12 << 16) | (3 << 30)
        .set UART_VA, 0xffffffff80030000
        .set ttbr0_root, L1_0
        .set ttbr1_root, L1_1
        .macro OA pa                        /* output address with PA[51:48] in bits 15:12 */
        .set oa, ((\pa) & 0xffffffff0000) | ((((\pa) >> 48) & 0xf) << 12)
        .endm
        .globl probes
probes: PROBE 0x40000000, 34, 0x10000            /* L3_0 */
        PROBE 0x09000000
        PROBE 0x40000000000, 2, 0x40000000000   /* the 4T block and the hole after it */
        PROBE 0x8000000000000, 2, 0x20000000
        PROBE 0x8000020000000, 3, 0x10000
        PROBE 0xffc0000000000
        PROBE 0xffc0020000000, 3, 0x10000
        PROBE 0xfff0000040000000
        PROBE 0xfff0040000000000
        PROBE 0xffffffff80000000, 5, 0x10000
        PROBE 0x10000000000000                  /* beyond 52 bits */
        PROBE 0xffe0000000000000
        PROBE 0, 0, 0
        TABLE L1_0, 1024
        E L1_0, 0, L2_0 + TB
        OA 0xf000000000000
        E L1_0, 1, oa | BLK | N | XN                    /* 0x40000000000: 4T block at PA 2^51+.. */
        E L1_0, 512, L2_1 + TB                          /* 0x8000000000000: above 2^48 */
        E L1_0, 1023, L2_1 + TB + APT_RO                /* 0xffc0000000000: the same L2, read-only */
        END L1_0, 1024
        TABLE L2_0, 8192
        E L2_0, 0, 0x00000000 | BLK | DEV               /* 512M devices, identity */
        E L2_0, 2, L3_0 + TB                            /* 0x40000000 */
        END L2_0, 8192
        TABLE L3_0, 8192
        .set i, 0
        .rept 32                                        /* 2M contiguous kernel RWX, identity */
        E L3_0, i, (0x40000000 + i * 0x10000) | TB | N | CONT
        .set i, i + 1
        .endr
        END L3_0, 8192
        TABLE L2_1, 8192
        OA 0x8000020000000
        E L2_1, 0, oa | BLK | N | AP_EL0 | UXN | NG     /* 512M EL0 RW at PA 0x8000020000000 */
        E L2_1, 1, L3_1 + TB
        END L2_1, 8192
        TABLE L3_1, 8192
        OA 0xfffffffff0000
        E L3_1, 0, oa | TB | N | XN                     /* the last 64K of the 52-bit PA space */
        OA 0x1234567890000
        E L3_1, 1, oa | TB | (1 << 2) | AF | AP_EL0 | AP_RO | PXN   /* EL0 R-X Normal-NC */
        END L3_1, 8192

        TABLE L1_1, 1024
        E L1_1, 0, 0x0 | BLK | N | XN                   /* 0xfff0000000000000: 4T linear map */
        E L1_1, 1023, L2_2 + TB                         /* 0xfffffc0000000000 */
        END L1_1, 1024
        TABLE L2_2, 8192
        E L2_2, 8188, L3_2 + TB                         /* 0xffffffff80000000 */
        END L2_2, 8192
        TABLE L3_2, 8192
        E L3_2, 0, 0x40080000 | TB | N | AP_RO | UXN
        E L3_2, 1, 0x40090000 | TB | N | AP_RO | XN
        E L3_2, 2, 0x400a0000 | TB | N | XN
        E L3_2, 3, 0x09000000 | TB | DEV
        END L3_2, 8192
.endif

.if GRAN == 64
/* TTBR0 48-bit (T0SZ 16): starts at L1 with 64 entries; TTBR1 42-bit (T1SZ 22): starts at L2
 * with 8192. L2 512M blocks, L3 64K pages. */
        .set TCR, TCR_COMMON | 16 | (1 << 14) | (22 << 16) | (3 << 30)
        .set UART_VA, 0xffffffff80030000
        .set ttbr0_root, L1_0
        .set ttbr1_root, L2_1
        .globl probes
probes: PROBE 0x40000000, 42, 0x10000            /* L3_0 */
        PROBE 0x00000000, 8, 0x20000000         /* L2_0[0..7] */
        PROBE 0x80000000, 3, 0x10000            /* L3_1 */
        PROBE 0x3e0000000, 2, 0x20000000        /* around the contiguous blocks */
        PROBE 0x7e0000000, 2, 0x20000000
        PROBE 0x40040000000, 42, 0x10000        /* the same through L1_0[1] */
        PROBE 0x40080000000, 2, 0x10000
        PROBE 0x40060000000
        PROBE 0xffffffff80000000, 5, 0x10000
        PROBE 0xffffffffa0000000, 2, 0x20000000
        PROBE 0xfffffc0000000000, 2, 0x20000000
        PROBE 0xfffffe0000000000, 5, 0x10000
        PROBE 0xfffffbffffff0000                /* below the TTBR1 range */
        PROBE 0, 0, 0
        TABLE L1_0, 64
        E L1_0, 0, L2_0 + TB
        E L1_0, 1, L2_0 + TB + APT_NOEL0 + UXNT         /* 0x40000000000 */
        END L1_0, 64
        TABLE L2_0, 8192
        E L2_0, 0, 0x00000000 | BLK | DEV               /* 512M devices, identity */
        E L2_0, 2, L3_0 + TB                            /* 0x40000000 */
        E L2_0, 3, 0x40000000 | BLK | NC | AP_EL0 | NG | UXN   /* 0x60000000: EL0 RW alias */
        E L2_0, 4, L3_1 + TB + APT_RO + PXNT            /* 0x80000000 */
        E L2_0, 5, 0x40000000 | BLK | SH_IS             /* 0xa0000000: AF clear */
        .set i, 0
        .rept 32                                        /* 0x400000000: 16G contiguous, EL0 R-X */
        E L2_0, 32 + i, (0x400000000 + i * 0x20000000) | BLK | WT | AP_EL0 | AP_RO | PXN | CONT | NG
        .set i, i + 1
        .endr
        END L2_0, 8192
        TABLE L3_0, 8192
        .set i, 0
        .rept 32                                        /* 2M contiguous kernel RWX, identity */
        E L3_0, i, (0x40000000 + i * 0x10000) | TB | N | CONT
        .set i, i + 1
        .endr
        E L3_0, 32, 0x40200000 | TB | N | AP_RO | XN
        E L3_0, 33, 0x40210000 | TB | N | AP_EL0 | UXN | NG
        E L3_0, 34, 0x40220000 | TB | N | AP_EL0 | AP_RO | PXN | NG
        E L3_0, 35, 0x40230000 | TB | DEV0
        E L3_0, 36, 0x40080000 | TB | N | XN            /* writable alias of the kernel text */
        E L3_0, 37, 0x40240000 | TB | N | AP_EL0 | PXN  /* EL0 RWX */
        E L3_0, 38, 0x40250000 | TB | SH_IS             /* AF clear */
        E L3_0, 40, 0x40260000 | BLK | N                /* reserved at L3 */
        END L3_0, 8192
        TABLE L3_1, 8192
        E L3_1, 0, 0x40a00000 | TB | N | AP_EL0
        E L3_1, 1, 0x40a10000 | TB | N
        END L3_1, 8192

        TABLE L2_1, 8192
        E L2_1, 0, 0x40000000 | BLK | N | XN            /* 0xfffffc0000000000: 512M linear map */
        E L2_1, 4096, L3_2 + TB + PXNT + UXNT           /* 0xfffffe0000000000: never executable */
        E L2_1, 8188, L3_2 + TB                         /* 0xffffffff80000000 */
        E L2_1, 8189, 0x40000000 | BLK | N | AP_RO | XN /* 0xffffffffa0000000 */
        END L2_1, 8192
        TABLE L3_2, 8192
        E L3_2, 0, 0x40080000 | TB | N | AP_RO | UXN
        E L3_2, 1, 0x40090000 | TB | N | AP_RO | XN
        E L3_2, 2, 0x400a0000 | TB | N | XN
        E L3_2, 3, 0x09000000 | TB | DEV
        END L3_2, 8192
.endif

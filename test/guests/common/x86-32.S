/*
 * ptview 32-bit x86 test guest (multiboot): builds PAE tables (with PAE defined) or classic
 * 2-level tables with 4 MiB PSE and PSE-36 pages, enables paging, prints PTVIEW-READY on COM1
 * and halts. Layout in test/guests/README.md.
 */
        .set MB_MAGIC, 0x1BADB002
        .section .multiboot
        .align 4
        .long MB_MAGIC, 0, -(MB_MAGIC)

        .set P, 1
        .set RW, 2
        .set US, 4
        .set PWT, 8
        .set PCD, 0x10
        .set A, 0x20
        .set D, 0x40
        .set PS, 0x80
        .set G, 0x100
        .set NXH, 0x80000000
        .set PAT4K, 0x80                    /* PAT bit of a 4 KiB PTE */
        .set PATL, 0x1000                   /* PAT bit of a 2 MiB / 4 MiB leaf */

.macro ENT table, index, lo, hi=0
.ifdef PAE
        movl $(\lo), (\table + 8 * (\index))
        movl $(\hi), (\table + 8 * (\index) + 4)
.else
        movl $(\lo), (\table + 4 * (\index))
.endif
.endm

        .text
        .code32
        .globl _start
_start:
        cli
        movl $0x80000, %esp
        movl $0x200000, %edi
        xorl %eax, %eax
        movl $(8 * 1024), %ecx
        rep stosl

.ifdef PAE
        .set PDPT, 0x200fe0                 /* 32-byte aligned, not page aligned */
        .set PD0, 0x201000
        .set PT0, 0x202000
        .set PT1, 0x203000
        .set PD3, 0x204000
        .set PT3, 0x205000
        ENT PDPT, 0, PD0 + P
        ENT PDPT, 3, PD3 + P + PWT          /* PWT in a PDPTE: caching of the PD only */
        ENT PD0, 0, PT0 + P + RW + US
        ENT PD0, 1, 0x200000 + P + RW + PS
        ENT PD0, 2, 0x400000 + P + RW + US + PS + A + D, NXH
        ENT PD0, 3, PT1 + P + US            /* R/W=0 above writable 4K leaves */
        ENT PD0, 4, PT1 + P + RW            /* same PT, U/S=0 above user leaves */
        ENT PD0, 5, 0x40000000 + P + RW + PS + PCD + PWT, 0x1   /* 2 MiB at PA 0x1_4000_0000 (> 4 GiB, no RAM) */
        ENT PD0, 6, 0xc00000 + P + RW + PS + PATL               /* PAT index 4 */
        /* identity map 0..2 MiB (code at 1 MiB) */
        movl $PT0, %edi
        movl $(P + RW + A), %eax
        movl $512, %ecx
1:      movl %eax, (%edi)
        movl $0, 4(%edi)
        addl $0x1000, %eax
        addl $8, %edi
        loop 1b
        ENT PT0, 0, 0
        ENT PT1, 0, 0x700000 + P + RW + US
        ENT PT1, 1, 0x701000 + P + RW + US, NXH
        ENT PT1, 2, 0x702000 + P + US + PCD
        ENT PT1, 3, 0x703000 + P + RW + US + PAT4K + PWT        /* PAT index 5 */
        ENT PD3, 0, 0x000000 + P + RW + PS + G, NXH   /* 0xc0000000: 2 MiB kernel RW NX */
        ENT PD3, 1, PT3 + P + RW
        ENT PT3, 0, 0x100000 + P + G                  /* text RO exec */
        ENT PT3, 1, 0x101000 + P + G, NXH             /* rodata */
        ENT PT3, 2, 0x102000 + P + RW + G + D + A, NXH
        ENT PT3, 3, 0x100000 + P + RW, NXH            /* writable alias of text */
        ENT PD3, 511, PD3 + P + RW                    /* self-map: PD3 as a PT at 0xffe00000 */
        movl $PDPT, %eax
        movl %eax, %cr3
        movl %cr4, %eax
        orl $0xa0, %eax                               /* PAE | PGE */
        movl %eax, %cr4
        movl $0xC0000080, %ecx                        /* EFER.NXE */
        rdmsr
        orl $0x800, %eax
        wrmsr
.else
        .set PD, 0x200000
        .set PT0, 0x201000
        .set PTK, 0x202000
        ENT PD, 0, PT0 + P + RW + US
        ENT PD, 1, 0x400000 + P + RW + US + PS + A + D      /* 4 MiB user RW */
        ENT PD, 2, 0x800000 + P + PS + PCD                   /* 4 MiB kernel RO, UC */
        ENT PD, 3, 0x00c00000 + P + RW + PS + (0x3 << 13)    /* PSE-36: PA 0x3_00c00000 */
        ENT PD, 4, 0x1000000 + P + RW + PS + PATL + PWT      /* 4 MiB, PAT index 5 */
        ENT PD, 768, PTK + P + RW
        ENT PD, 769, 0x000000 + P + RW + PS + G              /* 0xc0400000 */
        ENT PD, 770, PT0 + P + US                            /* PT0 again, R/W=0: 0xc0800000 */
        ENT PD, 1023, PD + P + RW                            /* self-map: PD as a PT at 0xffc00000 */
        movl $PT0, %edi
        movl $(P + RW + A), %eax
        movl $1024, %ecx
1:      movl %eax, (%edi)
        addl $0x1000, %eax
        addl $4, %edi
        loop 1b
        ENT PT0, 0, 0
        ENT PT0, 0x300, 0x300000 + P + US
        ENT PT0, 0x301, 0x301000 + P + RW + US + PWT
        ENT PTK, 0, 0x100000 + P + G
        ENT PTK, 1, 0x101000 + P + RW + G + A + D
        ENT PTK, 2, 0x102000 + P + RW + US                   /* user leaf under U/S=0 PDE */
        ENT PTK, 3, 0x103000 + P + RW + PAT4K + PCD          /* PAT index 6 */
        movl $PD, %eax
        movl %eax, %cr3
        movl %cr4, %eax
        orl $0x90, %eax                               /* PSE | PGE */
        movl %eax, %cr4
.endif
        movl %cr0, %eax
        orl $0x80010001, %eax                         /* PG | WP | PE */
        movl %eax, %cr0
        jmp 2f
2:      movl $msg, %esi
3:      lodsb
        testb %al, %al
        jz 4f
        movw $0x3f8, %dx
        outb %al, %dx
        jmp 3b
4:      cli
        hlt
        jmp 4b
msg:    .asciz "PTVIEW-READY\n"

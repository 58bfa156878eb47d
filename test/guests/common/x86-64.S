/*
 * ptview x86_64 test guest: a multiboot kernel (entered in 32-bit protected mode by QEMU's
 * -kernel loader) that builds known 4-level (or, with LA57 defined, 5-level) page tables,
 * enters long mode, prints PTVIEW-READY on COM1 and halts. The layout is documented in
 * test/guests/README.md; every mapping exists to exercise one rule of the paging core.
 * With CHANGES defined (x86-64-changes) there is no recursive slot, and after READY the guest
 * waits in hlt for an NMI (QMP inject-nmi), then changes its tables (map, unmap, protect, a
 * rights upgrade, a block split, a new PA, a root switch with a new PCID), prints
 * PTVIEW-STAGE2 and halts again: the two stops of `ptview diff`'s test.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .section .multiboot
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        /* entry bits */
        .set P, 1
        .set RW, 2
        .set US, 4
        .set PWT, 8
        .set PCD, 0x10
        .set A, 0x20
        .set D, 0x40
        .set PS, 0x80
        .set G, 0x100
        .set NXH, 0x80000000           /* bit 63, in the high word */
        .set PAT4K, 0x80               /* PAT bit of a 4 KiB PTE */
        .set PATL, 0x1000              /* PAT bit of a 2 MiB / 1 GiB leaf */

        /* IA32_PAT, not the reset value 0x0007040600070406:
         * PA0 WB, PA1 WT, PA2 UC-, PA3 UC, PA4 WC, PA5 WP, PA6 UC, PA7 WT */
        .set PAT_LO, 0x00070406
        .set PAT_HI, 0x04000501

        /* table physical addresses */
        .set PML4,    0x200000
        .set PDPT0,   0x201000
        .set PD0,     0x202000
        .set PT0,     0x203000
        .set PDPT_HI, 0x204000
        .set PDPT_K,  0x207000
        .set PD_K,    0x208000
        .set PT_K,    0x209000
        .set PDPT_SH, 0x20a000
        .set PD_RO,   0x20b000
        .set PT_RO,   0x20c000
        .set PD_SH,   0x20d000
        .set PT_SH,   0x20e000
        .set PML5,    0x20f000
        .set PT_NEW,  0x210000         /* CHANGES: the split block's new page table */
        .set PML4B,   0x211000         /* CHANGES: the new root (a copy of PML4) */

/* ENT table, index, low, high: write one 64-bit entry */
.macro ENT table, index, lo, hi=0
        movl $(\lo), (\table + 8 * (\index))
        movl $(\hi), (\table + 8 * (\index) + 4)
.endm

        .text
        .code32
        .globl _start
_start:
        cli
        movl $0x80000, %esp
        /* zero 16 tables */
        movl $PML4, %edi
        xorl %eax, %eax
        movl $(16 * 1024), %ecx
        rep stosl

        /* PML4 */
        ENT PML4, 0,   PDPT0 + P + RW + US
        ENT PML4, 1,   PDPT_SH + P + RW + US        /* shared subtree, user */
        ENT PML4, 2,   PDPT_SH + P + RW             /* same subtree, supervisor only */
        ENT PML4, 256, PDPT_HI + P + RW
.ifndef CHANGES
        ENT PML4, 510, PML4 + P + RW, NXH           /* recursive slot */
.endif
        ENT PML4, 511, PDPT_K + P + RW

        /* PDPT0: VA 0 .. 512 GiB */
        ENT PDPT0, 0, PD0 + P + RW + US
        ENT PDPT0, 1, 0x00000000 + P + RW + PS + G  /* 1 GiB at VA 0x40000000 -> PA 0 */
        ENT PDPT0, 2, PD_RO + P + US                /* R/W=0 above writable leaves */

        /* PD0: VA 0 .. 1 GiB */
        ENT PD0, 0, PT0 + P + RW + US
        ENT PD0, 1, 0x200000 + P + RW + PS                 /* tables, kernel RW */
        ENT PD0, 2, 0x400000 + P + RW + US + PS + PCD, NXH /* user RW NX, UC- */
        ENT PD0, 3, 0x600000 + P + US + PS + A + D + PWT   /* user RO exec, WT */
        ENT PD0, 4, PT_RO + P + RW, NXH                    /* U/S=0 above user leaves (PT_RO shared) */
        ENT PD0, 5, 0xa00000 + P + RW + PS + PATL          /* PAT index 4: WC */

        /* PT0: identity-map the first 2 MiB, kernel RW (the code runs from here) */
        movl $PT0, %edi
        movl $(P + RW + A), %eax
        movl $512, %ecx
1:      movl %eax, (%edi)
        movl $0, 4(%edi)
        addl $0x1000, %eax
        addl $8, %edi
        loop 1b
        ENT PT0, 0,   0                                 /* VA 0 unmapped (null page) */
        ENT PT0, 300, 0x12c000 + P + RW + US + G, NXH   /* user RW NX global */
        ENT PT0, 301, 0x12d000 + P + US                 /* user RO exec */
        ENT PT0, 302, 0x12e000 + P + RW + US + A + D    /* user RWX, accessed+dirty */
        ENT PT0, 303, 0x12f000 + P + RW + PAT4K + PWT   /* PAT index 5: WP */
        ENT PT0, 304, 0x130000 + P + PAT4K + PCD, NXH   /* PAT index 6: UC, RO NX */

        /* PD_RO (VA 0x80000000): writable leaves under a read-only PDPT entry */
        ENT PD_RO, 0, 0x800000 + P + RW + US + PS
        ENT PD_RO, 1, PT_RO + P + RW + US
        ENT PT_RO, 0, 0x900000 + P + RW + US, NXH
        ENT PT_RO, 1, 0x901000 + P + RW + US, NXH
        ENT PT_RO, 2, 0x902000 + P + RW + US, NXH
        ENT PT_RO, 3, 0x903000 + P + RW + US, NXH

        /* shared subtree (PML4[1] user, PML4[2] supervisor) */
        ENT PDPT_SH, 0, PD_SH + P + RW + US
        ENT PD_SH, 0, 0xa00000 + P + RW + US + PS
        ENT PD_SH, 5, PT_SH + P + RW + US
        movl $PT_SH, %edi
        movl $(0xc00000 + P + RW + US), %eax
        movl $16, %ecx
2:      movl %eax, (%edi)
        movl $NXH, 4(%edi)
        addl $0x1000, %eax
        xorl $G, %eax                                   /* every other page global */
        addl $8, %edi
        loop 2b

        /* direct map at 0xffff800000000000: 1 GiB, RW NX global */
        ENT PDPT_HI, 0, 0x00000000 + P + RW + PS + G, NXH

        /* kernel image at 0xffffffff80000000 */
        ENT PDPT_K, 510, PD_K + P + RW
        ENT PD_K, 0, PT_K + P + RW
        ENT PD_K, 1, 0x200000 + P + PS + G, NXH         /* RO NX 2 MiB */
        ENT PT_K, 0, 0x100000 + P + G                   /* text: RO exec */
        ENT PT_K, 1, 0x101000 + P + G
        ENT PT_K, 2, 0x102000 + P + G
        ENT PT_K, 3, 0x103000 + P + G
        ENT PT_K, 4, 0x104000 + P + G, NXH              /* rodata */
        ENT PT_K, 5, 0x105000 + P + G, NXH
        ENT PT_K, 6, 0x106000 + P + RW + G + A + D, NXH /* data */
        ENT PT_K, 7, 0x100000 + P + RW + G, NXH         /* writable alias of text */

.ifdef LA57
        ENT PML5, 0, PML4 + P + RW + US
        ENT PML5, 511, PML4 + P + RW                    /* the same PML4 for the top half */
        movl $PML5, %eax
.else
        movl $PML4, %eax
.endif
        movl %eax, %cr3
        movl $0x277, %ecx                               /* IA32_PAT */
        movl $PAT_LO, %eax
        movl $PAT_HI, %edx
        wrmsr
        movl $pat_msg, %esi                             /* report it: no monitor command shows it */
        call puts32
        movl $0x277, %ecx
        rdmsr
        pushl %eax
        movl %edx, %eax
        call puthex32
        popl %eax
        call puthex32
        movl $nl_msg, %esi
        call puts32
        movl %cr4, %eax
        orl $0x20, %eax                                 /* PAE */
        orl $0x80, %eax                                 /* PGE */
.ifdef LA57
        orl $0x1000, %eax                               /* LA57 */
.endif
        movl %eax, %cr4
        movl $0xC0000080, %ecx                          /* EFER: LME | NXE */
        rdmsr
        orl $0x900, %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80010001, %eax                           /* PG | WP | PE */
        movl %eax, %cr0
        lgdt gdtr
        ljmp $0x08, $long_mode

/* puts32: print the NUL-terminated string at %esi on COM1 */
puts32:
        pushl %edx
        movw $0x3f8, %dx
5:      lodsb
        testb %al, %al
        jz 6f
        outb %al, %dx
        jmp 5b
6:      popl %edx
        ret

/* puthex32: print %eax as 8 hex digits on COM1 */
puthex32:
        pushl %ecx
        pushl %edx
        pushl %ebx
        movl %eax, %ebx
        movl $8, %ecx
        movw $0x3f8, %dx
7:      roll $4, %ebx
        movl %ebx, %eax
        andl $0xf, %eax
        movb hexdigits(%eax), %al
        outb %al, %dx
        loop 7b
        popl %ebx
        popl %edx
        popl %ecx
        ret

        .code64
long_mode:
        movl $0x10, %eax
        movl %eax, %ds
        movl %eax, %ss
        /* PCID 5: CR4.PCIDE needs CR3[11:0] == 0 when set, then reload CR3 with the PCID */
        movq %cr4, %rax
        orq $0x20000, %rax
        movq %rax, %cr4
        movq %cr3, %rax
        orq $5, %rax
        movq %rax, %cr3
        /* touch a few pages so the CPU sets A/D like a real kernel would */
        movq $0xffffffff80006000, %rbx
        movq $42, (%rbx)
.ifdef CHANGES
        /* IDT with an NMI gate (vector 2): the NMI ends the first stop */
        leaq nmi_handler(%rip), %rax
        leaq idt(%rip), %rdi
        movw %ax, 32(%rdi)
        movw $0x08, 34(%rdi)
        movw $0x8e00, 36(%rdi)                          /* present, DPL 0, interrupt gate */
        shrq $16, %rax
        movw %ax, 38(%rdi)
        shrq $16, %rax
        movl %eax, 40(%rdi)
        lidt idtr(%rip)
.endif
        leaq msg(%rip), %rsi
        call puts64
.ifdef CHANGES
stop1:  hlt                                             /* first stop: until the NMI */
        cmpb $0, nmi_seen(%rip)
        je stop1
        ENT PT_K, 8, 0x108000 + P + G, NXH              /* map VA 0xffffffff80008000 */
        ENT PT0, 301, 0                                 /* unmap VA 0x12d000 */
        ENT PT_K, 6, 0x106000 + P + G + A + D, NXH      /* protect: 0xffffffff80006000 loses W */
        ENT PT0, 304, 0x130000 + P + RW + PAT4K + PCD, NXH /* upgrade: VA 0x130000 gains W */
        ENT PT_K, 7, 0x107000 + P + RW + G, NXH         /* new PA: 0xffffffff80007000 -> 0x107000 */
        /* split the 2 MiB WC block at VA 0xa00000 into 4 KiB pages of the same frames and type */
        movl $PT_NEW, %edi
        movl $(0xa00000 + P + RW + PAT4K), %eax
        movl $512, %ecx
8:      movl %eax, (%edi)
        movl $0, 4(%edi)
        addl $0x1000, %eax
        addl $8, %edi
        loop 8b
        ENT PD0, 5, PT_NEW + P + RW + US
        /* switch root: a copy of PML4 with PCID 6 (the old root's PCID is 5) */
        movl $PML4, %esi
        movl $PML4B, %edi
        movl $512, %ecx
        rep movsq
        movq $(PML4B + 6), %rax
        movq %rax, %cr3
        leaq msg2(%rip), %rsi
        call puts64
.endif
4:      cli
        hlt
        jmp 4b

/* puts64: print the NUL-terminated string at %rsi on COM1 */
puts64:
3:      lodsb
        testb %al, %al
        jz 5f
        movw $0x3f8, %dx
        outb %al, %dx
        jmp 3b
5:      ret

.ifdef CHANGES
nmi_handler:
        movb $1, nmi_seen(%rip)
        iretq
nmi_seen: .byte 0
        .align 16
idt:    .fill 48, 1, 0
idtr:   .word 47
        .long idt, 0
msg2:   .asciz "PTVIEW-STAGE2\n"
.endif

        .align 8
gdt:    .quad 0
        .quad 0x00af9a000000ffff                        /* 64-bit code */
        .quad 0x00cf92000000ffff                        /* data */
gdtr:   .word gdtr - gdt - 1
        .long gdt
msg:    .asciz "PTVIEW-READY\n"
pat_msg: .asciz "IA32_PAT=0x"
nl_msg: .asciz "\n"
hexdigits: .ascii "0123456789abcdef"

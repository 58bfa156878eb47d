# ptview-user for riscv64 Linux: the same program as user-x86_64.S, except that it spins in user
# mode (README.md: the lines it prints, and why it spins so). Syscall numbers:
# include/uapi/asm-generic/unistd.h; ABI: number in a7, arguments in a0-a5, `ecall`
# (arch/riscv/kernel/traps.c, do_trap_ecall_u).
        .set SYS_ftruncate, 46
        .set SYS_openat, 56
        .set SYS_write, 64
        .set SYS_pread64, 67
        .set SYS_getpid, 172
        .set SYS_mmap, 222
        .set SYS_mprotect, 226
        .set SYS_memfd_create, 279
        .set AT_FDCWD, -100
        .set PAGE, 4096
        .set ANON_PAGES, 64
        .set RO_PAGES, 4
        .set SPIN_ROUNDS, 0x100000

        .macro sys nr
        li      a7, \nr
        ecall
        .endm
        .macro put sym
        la      t0, \sym
        sd      a0, 0(t0)
        .endm
        .macro get reg, sym
        la      t0, \sym
        ld      \reg, 0(t0)
        .endm

        .option norelax
        .text
        .globl _start
_start:
        sys     SYS_getpid
        mv      s1, a0
        la      a0, s_pid
        call    out_str
        mv      a0, s1
        call    out_hex
        call    out_nl

        li      a0, AT_FDCWD
        la      a1, s_pagemap
        li      a2, 0
        sys     SYS_openat
        put     pagemap_fd

        # W+X page
        li      a0, 0
        li      a1, PAGE
        li      a2, 7
        li      a3, 0x22
        li      a4, -1
        li      a5, 0
        sys     SYS_mmap
        put     wx
        li      t1, 0x00008067          # ret (jalr x0, 0(ra))
        sw      t1, 0(a0)

        # read-only file mapping of /bin/busybox
        li      a0, AT_FDCWD
        la      a1, s_busybox
        li      a2, 0
        sys     SYS_openat
        mv      a4, a0
        li      a0, 0
        li      a1, RO_PAGES * PAGE
        li      a2, 1
        li      a3, 2
        li      a5, 0
        sys     SYS_mmap
        put     ro
        li      t1, 0
        li      t3, RO_PAGES * PAGE
1:      add     t2, a0, t1
        lbu     t2, 0(t2)
        li      t2, PAGE
        add     t1, t1, t2
        bltu    t1, t3, 1b

        # anonymous region, touched page by page
        li      a0, 0
        li      a1, ANON_PAGES * PAGE
        li      a2, 3
        li      a3, 0x22
        li      a4, -1
        li      a5, 0
        sys     SYS_mmap
        put     anon
        li      t1, 0
        li      t3, ANON_PAGES * PAGE
1:      add     t2, a0, t1
        sd      t1, 0(t2)
        li      t2, PAGE
        add     t1, t1, t2
        bltu    t1, t3, 1b

        # memfd page at two VAs
        la      a0, s_memfd
        li      a1, 0
        sys     SYS_memfd_create
        put     memfd
        li      a1, PAGE
        sys     SYS_ftruncate
        call    map_shared
        put     shm_a
        call    map_shared
        put     shm_b
        get     t1, shm_a
        li      t2, 0x7074766965772121
        sd      t2, 0(t1)

        la      a0, s_text
        la      a1, _start
        li      t1, -PAGE
        and     a1, a1, t1
        li      a2, 1
        call    report
        la      a0, s_stack
        mv      a1, sp
        li      t1, -PAGE
        and     a1, a1, t1
        li      a2, 1
        call    report
        la      a0, s_wx
        get     a1, wx
        li      a2, 1
        call    report
        la      a0, s_ro
        get     a1, ro
        li      a2, RO_PAGES
        call    report
        la      a0, s_anon
        get     a1, anon
        li      a2, ANON_PAGES
        call    report
        la      a0, s_shm_a
        get     a1, shm_a
        li      a2, 1
        call    report
        la      a0, s_shm_b
        get     a1, shm_b
        li      a2, 1
        call    report

        la      a0, s_step
        call    out_str
        la      a0, do_mprotect
        call    out_hex
        call    out_sp
        la      a0, after_mprotect
        call    out_hex
        call    out_sp
        get     a0, shm_a
        addi    a0, a0, 8
        call    out_hex
        call    out_nl
        la      a0, s_ready
        call    out_str
        call    out_nl

        # Spin in user mode, polling the word at shm_a+8 (nonzero: mprotect(anon, PROT_READ)),
        # with one getpid every SPIN_ROUNDS polls. A getpid-only loop spends nearly all its time in
        # the kernel, and QEMU TCG honours a stop only between translation blocks, where a pending
        # interrupt is taken first: on a loaded host every stop then lands in the trap vector and
        # none in user mode (500 in a row were seen). Here a stop finds U mode unless an interrupt
        # is pending, and S mode with this process's satp when one is (or in the getpid).
spin:   sys     SYS_getpid
        li      t3, SPIN_ROUNDS
        get     t1, shm_a
1:      ld      t2, 8(t1)
        bnez    t2, do_mprotect
        addi    t3, t3, -1
        bnez    t3, 1b
        j       spin
do_mprotect:
        get     a0, anon
        li      a1, ANON_PAGES * PAGE
        li      a2, 1
        sys     SYS_mprotect
after_mprotect:
        get     t1, shm_a
        sd      zero, 8(t1)
        la      a0, s_mprotect
        call    out_str
        get     a0, anon
        call    out_hex
        call    out_nl
        j       spin

map_shared:
        li      a0, 0
        li      a1, PAGE
        li      a2, 3
        li      a3, 1
        get     a4, memfd
        li      a5, 0
        sys     SYS_mmap
        li      t1, 1
        sb      t1, 16(a0)
        ret

# report(a0=name, a1=first VA, a2=pages)
report:
        addi    sp, sp, -32
        sd      ra, 0(sp)
        sd      s2, 8(sp)
        sd      s3, 16(sp)
        sd      s4, 24(sp)
        mv      s2, a0
        mv      s3, a1
        mv      s4, a2
        la      a0, s_map
        call    out_str
        mv      a0, s2
        call    out_str
        call    out_sp
        mv      a0, s3
        call    out_hex
        call    out_sp
        mv      a0, s4
        call    out_hex
        call    out_nl
1:      la      a1, entry
        sd      zero, 0(a1)
        get     a0, pagemap_fd
        li      a2, 8
        srli    a3, s3, 12
        slli    a3, a3, 3
        sys     SYS_pread64
        la      a0, s_page
        call    out_str
        mv      a0, s2
        call    out_str
        call    out_sp
        mv      a0, s3
        call    out_hex
        call    out_sp
        get     a0, entry
        call    out_hex
        call    out_nl
        li      t1, PAGE
        add     s3, s3, t1
        addi    s4, s4, -1
        bnez    s4, 1b
        ld      ra, 0(sp)
        ld      s2, 8(sp)
        ld      s3, 16(sp)
        ld      s4, 24(sp)
        addi    sp, sp, 32
        ret

# Line buffer; these use t0-t6 (plus a0-a2, a7 in out_nl); out_hex/out_nl keep ra in s5.
out_str:                                # a0 = NUL-terminated string
        get     t3, line_len
        la      t4, line
1:      lbu     t5, 0(a0)
        beqz    t5, 2f
        add     t6, t4, t3
        sb      t5, 0(t6)
        addi    t3, t3, 1
        addi    a0, a0, 1
        j       1b
2:      la      t0, line_len
        sd      t3, 0(t0)
        ret
out_sp:
        li      t5, ' '
out_char:                               # t5
        get     t3, line_len
        la      t4, line
        add     t6, t4, t3
        sb      t5, 0(t6)
        addi    t3, t3, 1
        la      t0, line_len
        sd      t3, 0(t0)
        ret
out_hex:                                # a0 as 0x + 16 digits
        mv      s5, ra
        mv      s6, a0
        li      t5, '0'
        call    out_char
        li      t5, 'x'
        call    out_char
        li      s7, 16
1:      srli    t5, s6, 60
        slli    s6, s6, 4
        la      t1, hexdigits
        add     t1, t1, t5
        lbu     t5, 0(t1)
        call    out_char
        addi    s7, s7, -1
        bnez    s7, 1b
        mv      ra, s5
        ret
out_nl:
        mv      s5, ra
        li      t5, 10
        call    out_char
        li      a0, 1
        la      a1, line
        get     a2, line_len
        sys     SYS_write
        la      t0, line_len
        sd      zero, 0(t0)
        mv      ra, s5
        ret

        .section .rodata
hexdigits:  .ascii "0123456789abcdef"
s_pid:      .asciz "PTVIEW-USER pid "
s_pagemap:  .asciz "/proc/self/pagemap"
s_busybox:  .asciz "/bin/busybox"
s_memfd:    .asciz "ptview-shm"
s_map:      .asciz "PTVIEW-MAP "
s_page:     .asciz "PTVIEW-PAGE "
s_step:     .asciz "PTVIEW-STEP "
s_mprotect: .asciz "PTVIEW-MPROTECT anon "
s_ready:    .asciz "PTVIEW-READY"
s_text:     .asciz "text"
s_stack:    .asciz "stack"
s_wx:       .asciz "wx"
s_ro:       .asciz "ro"
s_anon:     .asciz "anon"
s_shm_a:    .asciz "shm-a"
s_shm_b:    .asciz "shm-b"

        .bss
        .balign 8
pagemap_fd: .quad 0
memfd:      .quad 0
wx:         .quad 0
ro:         .quad 0
anon:       .quad 0
shm_a:      .quad 0
shm_b:      .quad 0
entry:      .quad 0
line_len:   .quad 0
line:       .space 256

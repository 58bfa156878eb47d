// ptview-user for arm64 Linux: the same program as user-x86_64.S (see README.md for the lines it
// prints). Syscall numbers: include/uapi/asm-generic/unistd.h; ABI: number in x8, arguments in
// x0-x5, `svc #0` (arch/arm64/kernel/syscall.c).
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
        .set SPIN_ROUNDS, 0x4000

        .macro sys nr
        mov     x8, #\nr
        svc     #0
        .endm
        .macro la reg, sym
        adrp    \reg, \sym
        add     \reg, \reg, :lo12:\sym
        .endm
        // store x0 at a variable (clobbers x9)
        .macro put sym
        la      x9, \sym
        str     x0, [x9]
        .endm
        .macro get reg, sym
        la      x9, \sym
        ldr     \reg, [x9]
        .endm

        .text
        .globl _start
_start:
        sys     SYS_getpid
        mov     x19, x0
        la      x0, s_pid
        bl      out_str
        mov     x0, x19
        bl      out_hex
        bl      out_nl

        mov     x0, #AT_FDCWD
        la      x1, s_pagemap
        mov     x2, #0
        sys     SYS_openat
        put     pagemap_fd

        // W+X page
        mov     x0, #0
        mov     x1, #PAGE
        mov     x2, #7
        mov     x3, #0x22
        mov     x4, #-1
        mov     x5, #0
        sys     SYS_mmap
        put     wx
        mov     w1, #0xd65f0000         // ret, upper half
        movk    w1, #0x03c0
        str     w1, [x0]

        // read-only file mapping of /bin/busybox
        mov     x0, #AT_FDCWD
        la      x1, s_busybox
        mov     x2, #0
        sys     SYS_openat
        mov     x4, x0
        mov     x0, #0
        mov     x1, #(RO_PAGES * PAGE)
        mov     x2, #1
        mov     x3, #2
        mov     x5, #0
        sys     SYS_mmap
        put     ro
        mov     x1, #0
1:      ldrb    w2, [x0, x1]
        add     x1, x1, #PAGE
        cmp     x1, #(RO_PAGES * PAGE)
        b.lo    1b

        // anonymous region, touched page by page
        mov     x0, #0
        mov     x1, #(ANON_PAGES * PAGE)
        mov     x2, #3
        mov     x3, #0x22
        mov     x4, #-1
        mov     x5, #0
        sys     SYS_mmap
        put     anon
        mov     x1, #0
1:      str     x1, [x0, x1]
        add     x1, x1, #PAGE
        cmp     x1, #(ANON_PAGES * PAGE)
        b.lo    1b

        // memfd page at two VAs
        la      x0, s_memfd
        mov     x1, #0
        sys     SYS_memfd_create
        put     memfd
        mov     x1, #PAGE
        sys     SYS_ftruncate
        bl      map_shared
        put     shm_a
        bl      map_shared
        put     shm_b
        get     x1, shm_a
        ldr     x2, =0x7074766965772121
        str     x2, [x1]

        la      x0, s_text
        la      x1, _start
        and     x1, x1, #~(PAGE - 1)
        mov     x2, #1
        bl      report
        la      x0, s_stack
        mov     x1, sp
        and     x1, x1, #~(PAGE - 1)
        mov     x2, #1
        bl      report
        la      x0, s_wx
        get     x1, wx
        mov     x2, #1
        bl      report
        la      x0, s_ro
        get     x1, ro
        mov     x2, #RO_PAGES
        bl      report
        la      x0, s_anon
        get     x1, anon
        mov     x2, #ANON_PAGES
        bl      report
        la      x0, s_shm_a
        get     x1, shm_a
        mov     x2, #1
        bl      report
        la      x0, s_shm_b
        get     x1, shm_b
        mov     x2, #1
        bl      report

        la      x0, s_step
        bl      out_str
        la      x0, do_mprotect
        bl      out_hex
        bl      out_sp
        la      x0, after_mprotect
        bl      out_hex
        bl      out_sp
        get     x0, shm_a
        add     x0, x0, #8
        bl      out_hex
        bl      out_nl
        la      x0, s_ready
        bl      out_str
        bl      out_nl

        // spin: getpid, then SPIN_ROUNDS polls of the word at shm_a+8 in user mode (nonzero asks
        // for mprotect(anon, PROT_READ)), so a stop finds EL0 or the kernel on our behalf alike
        // (README.md)
spin:   sys     SYS_getpid
        mov     x3, #SPIN_ROUNDS
        get     x1, shm_a
1:      ldr     x2, [x1, #8]
        cbnz    x2, do_mprotect
        subs    x3, x3, #1
        b.ne    1b
        b       spin
do_mprotect:
        get     x0, anon
        mov     x1, #(ANON_PAGES * PAGE)
        mov     x2, #1
        sys     SYS_mprotect
after_mprotect:
        get     x1, shm_a
        str     xzr, [x1, #8]
        la      x0, s_mprotect
        bl      out_str
        get     x0, anon
        bl      out_hex
        bl      out_nl
        b       spin

map_shared:
        mov     x0, #0
        mov     x1, #PAGE
        mov     x2, #3
        mov     x3, #1
        get     x4, memfd
        mov     x5, #0
        sys     SYS_mmap
        mov     w1, #1
        strb    w1, [x0, #16]
        ret

// report(x0=name, x1=first VA, x2=pages)
report:
        stp     x29, x30, [sp, #-48]!
        stp     x19, x20, [sp, #16]
        str     x21, [sp, #32]
        mov     x19, x0
        mov     x20, x1
        mov     x21, x2
        la      x0, s_map
        bl      out_str
        mov     x0, x19
        bl      out_str
        bl      out_sp
        mov     x0, x20
        bl      out_hex
        bl      out_sp
        mov     x0, x21
        bl      out_hex
        bl      out_nl
1:      la      x1, entry
        str     xzr, [x1]
        get     x0, pagemap_fd
        mov     x2, #8
        lsr     x3, x20, #12
        lsl     x3, x3, #3
        sys     SYS_pread64
        la      x0, s_page
        bl      out_str
        mov     x0, x19
        bl      out_str
        bl      out_sp
        mov     x0, x20
        bl      out_hex
        bl      out_sp
        get     x0, entry
        bl      out_hex
        bl      out_nl
        add     x20, x20, #PAGE
        subs    x21, x21, #1
        b.ne    1b
        ldr     x21, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #48
        ret

// Line buffer; these use x9-x15 only (plus x0-x2, x8 in out_nl).
out_str:                                // x0 = NUL-terminated string
        get     x10, line_len
        la      x11, line
1:      ldrb    w12, [x0], #1
        cbz     w12, 2f
        strb    w12, [x11, x10]
        add     x10, x10, #1
        b       1b
2:      la      x9, line_len
        str     x10, [x9]
        ret
out_sp:
        mov     w12, #' '
out_char:                               // w12
        get     x10, line_len
        la      x11, line
        strb    w12, [x11, x10]
        add     x10, x10, #1
        la      x9, line_len
        str     x10, [x9]
        ret
out_hex:                                // x0 as 0x + 16 digits
        mov     x15, x30
        mov     x13, x0
        mov     w12, #'0'
        bl      out_char
        mov     w12, #'x'
        bl      out_char
        mov     x14, #16
1:      ror     x13, x13, #60
        and     x12, x13, #15
        la      x11, hexdigits
        ldrb    w12, [x11, x12]
        bl      out_char
        subs    x14, x14, #1
        b.ne    1b
        ret     x15
out_nl:
        mov     x15, x30
        mov     w12, #10
        bl      out_char
        mov     x0, #1
        la      x1, line
        get     x2, line_len
        sys     SYS_write
        la      x9, line_len
        str     xzr, [x9]
        ret     x15

        .ltorg
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

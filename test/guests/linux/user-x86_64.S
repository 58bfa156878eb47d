# ptview-user for x86_64 Linux: a static, libc-free process with known mappings that prints its
# PID, each mapping's pages and their /proc/self/pagemap entries on the console, then spins in
# user mode and in getpid (so a stopped guest is almost always in it, with its CR3 loaded). Line format and the
# mapping list: user.md. Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl; ABI rax, rdi,
# rsi, rdx, r10, r8, r9 (x86-64 psABI A.2.1).
        .intel_syntax noprefix
        .set SYS_write, 1
        .set SYS_close, 3
        .set SYS_mmap, 9
        .set SYS_mprotect, 10
        .set SYS_pread64, 17
        .set SYS_getpid, 39
        .set SYS_ftruncate, 77
        .set SYS_openat, 257
        .set SYS_memfd_create, 319
        .set AT_FDCWD, -100
        .set PAGE, 4096
        .set ANON_PAGES, 64
        .set RO_PAGES, 4
        .set SPIN_ROUNDS, 0x400

        .text
        .globl _start
_start:
        mov     eax, SYS_getpid
        syscall
        mov     [rip + pid], rax
        lea     rdi, [rip + s_pid]
        call    out_str
        mov     rdi, [rip + pid]
        call    out_hex
        call    out_nl

        # /proc/self/pagemap (PFNs need CAP_SYS_ADMIN: init runs us as root)
        mov     eax, SYS_openat
        mov     rdi, AT_FDCWD
        lea     rsi, [rip + s_pagemap]
        xor     edx, edx
        syscall
        mov     [rip + pagemap_fd], rax

        # W+X: one private anonymous page, rwx, written (a `ret` byte)
        xor     edi, edi
        mov     esi, PAGE
        mov     edx, 7
        mov     r10d, 0x22              # MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        mov     eax, SYS_mmap
        syscall
        mov     [rip + wx], rax
        mov     byte ptr [rax], 0xc3

        # read-only private file mapping of /bin/busybox, every page read
        mov     eax, SYS_openat
        mov     rdi, AT_FDCWD
        lea     rsi, [rip + s_busybox]
        xor     edx, edx
        syscall
        mov     r8, rax
        xor     edi, edi
        mov     esi, RO_PAGES * PAGE
        mov     edx, 1                  # PROT_READ
        mov     r10d, 2                 # MAP_PRIVATE
        xor     r9d, r9d
        mov     eax, SYS_mmap
        syscall
        mov     [rip + ro], rax
        xor     ecx, ecx
1:      mov     dl, [rax + rcx]
        add     rcx, PAGE
        cmp     rcx, RO_PAGES * PAGE
        jb      1b

        # anonymous rw region, touched page by page
        xor     edi, edi
        mov     esi, ANON_PAGES * PAGE
        mov     edx, 3
        mov     r10d, 0x22
        mov     r8, -1
        xor     r9d, r9d
        mov     eax, SYS_mmap
        syscall
        mov     [rip + anon], rax
        xor     ecx, ecx
1:      mov     [rax + rcx], rcx
        add     rcx, PAGE
        cmp     rcx, ANON_PAGES * PAGE
        jb      1b

        # one memfd page mapped shared at two VAs
        mov     eax, SYS_memfd_create
        lea     rdi, [rip + s_memfd]
        xor     esi, esi
        syscall
        mov     [rip + memfd], rax
        mov     rdi, rax
        mov     esi, PAGE
        mov     eax, SYS_ftruncate
        syscall
        call    map_shared
        mov     [rip + shm_a], rax
        call    map_shared
        mov     [rip + shm_b], rax
        mov     rcx, [rip + shm_a]
        mov     rdx, 0x7074766965772121  # "!!weivtp": a marker readable at both VAs
        mov     [rcx], rdx

        lea     rdi, [rip + s_text]
        lea     rsi, [rip + _start]
        and     rsi, -PAGE
        mov     edx, 1
        call    report
        lea     rdi, [rip + s_stack]
        mov     rsi, rsp
        and     rsi, -PAGE
        mov     edx, 1
        call    report
        lea     rdi, [rip + s_wx]
        mov     rsi, [rip + wx]
        mov     edx, 1
        call    report
        lea     rdi, [rip + s_ro]
        mov     rsi, [rip + ro]
        mov     edx, RO_PAGES
        call    report
        lea     rdi, [rip + s_anon]
        mov     rsi, [rip + anon]
        mov     edx, ANON_PAGES
        call    report
        lea     rdi, [rip + s_shm_a]
        mov     rsi, [rip + shm_a]
        mov     edx, 1
        call    report
        lea     rdi, [rip + s_shm_b]
        mov     rsi, [rip + shm_b]
        mov     edx, 1
        call    report

        # where a debugger can stop before and after the mprotect, and the flag that triggers it
        lea     rdi, [rip + s_step]
        call    out_str
        lea     rdi, [rip + do_mprotect]
        call    out_hex
        call    out_sp
        lea     rdi, [rip + after_mprotect]
        call    out_hex
        call    out_sp
        mov     rdi, [rip + shm_a]
        add     rdi, 8
        call    out_hex
        call    out_nl
        lea     rdi, [rip + s_ready]
        call    out_str
        call    out_nl

        # spin: getpid, then SPIN_ROUNDS polls of the word at shm_a+8 in user mode (nonzero asks
        # for mprotect(anon, PROT_READ)), so a stop finds either privilege level quickly, with this
        # process's tables (README.md: a getpid-only loop almost never stops in user mode)
spin:   mov     eax, SYS_getpid
        syscall
        mov     ecx, SPIN_ROUNDS
        mov     rax, [rip + shm_a]
1:      cmp     qword ptr [rax + 8], 0
        jne     do_mprotect
        dec     ecx
        jnz     1b
        jmp     spin
do_mprotect:
        mov     rdi, [rip + anon]
        mov     esi, ANON_PAGES * PAGE
        mov     edx, 1
        mov     eax, SYS_mprotect
        syscall
after_mprotect:
        mov     rax, [rip + shm_a]
        mov     qword ptr [rax + 8], 0
        lea     rdi, [rip + s_mprotect]
        call    out_str
        mov     rdi, [rip + anon]
        call    out_hex
        call    out_nl
        jmp     spin

# rax = mmap(0, PAGE, rw, MAP_SHARED, memfd, 0), first byte written (present in pagemap)
map_shared:
        xor     edi, edi
        mov     esi, PAGE
        mov     edx, 3
        mov     r10d, 1
        mov     r8, [rip + memfd]
        xor     r9d, r9d
        mov     eax, SYS_mmap
        syscall
        mov     byte ptr [rax + 16], 1
        ret

# report(rdi=name, rsi=first VA, rdx=pages): "PTVIEW-MAP name va pages", then per page
# "PTVIEW-PAGE name va pagemap-entry"
report:
        push    rbx
        push    r12
        push    r13
        mov     rbx, rdi
        mov     r12, rsi
        mov     r13, rdx
        lea     rdi, [rip + s_map]
        call    out_str
        mov     rdi, rbx
        call    out_str
        call    out_sp
        mov     rdi, r12
        call    out_hex
        call    out_sp
        mov     rdi, r13
        call    out_hex
        call    out_nl
1:      mov     qword ptr [rip + entry], 0
        mov     rdi, [rip + pagemap_fd]
        lea     rsi, [rip + entry]
        mov     edx, 8
        mov     r10, r12
        shr     r10, 12
        shl     r10, 3
        mov     eax, SYS_pread64
        syscall
        lea     rdi, [rip + s_page]
        call    out_str
        mov     rdi, rbx
        call    out_str
        call    out_sp
        mov     rdi, r12
        call    out_hex
        call    out_sp
        mov     rdi, [rip + entry]
        call    out_hex
        call    out_nl
        add     r12, PAGE
        dec     r13
        jnz     1b
        pop     r13
        pop     r12
        pop     rbx
        ret

# The line buffer: out_* append, out_nl writes the line with one write(2).
out_str:                                # rdi = NUL-terminated string
        mov     rcx, [rip + line_len]
        lea     rdx, [rip + line]
1:      mov     al, [rdi]
        test    al, al
        jz      2f
        mov     [rdx + rcx], al
        inc     rdi
        inc     rcx
        jmp     1b
2:      mov     [rip + line_len], rcx
        ret
out_sp:
        mov     al, ' '
        jmp     out_char
out_char:                               # al
        mov     rcx, [rip + line_len]
        lea     rdx, [rip + line]
        mov     [rdx + rcx], al
        inc     rcx
        mov     [rip + line_len], rcx
        ret
out_hex:                                # rdi, as 0x + 16 digits
        push    rdi
        mov     al, '0'
        call    out_char
        mov     al, 'x'
        call    out_char
        pop     rsi
        mov     r8d, 16
1:      rol     rsi, 4
        mov     eax, esi
        and     eax, 15
        lea     rdx, [rip + hexdigits]
        mov     al, [rdx + rax]
        call    out_char
        dec     r8d
        jnz     1b
        ret
out_nl:
        mov     al, 10
        call    out_char
        mov     eax, SYS_write
        mov     edi, 1
        lea     rsi, [rip + line]
        mov     rdx, [rip + line_len]
        syscall
        mov     qword ptr [rip + line_len], 0
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
pid:        .quad 0
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

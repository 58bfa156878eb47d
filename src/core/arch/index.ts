// The architecture modules, each registered on import: x86.ts, aarch64.ts, riscv.ts. Callers
// import the lookups (archModule, findArch, archEdit, …) from here, which loads them all; the
// import order below is the registration order (the order live registers are probed in, and of
// the lists in messages), so nothing else imports a module file directly.
export * from './registry';
import './x86';
import './aarch64';
import './riscv';

// The architecture modules, each registered on import: x86.ts, aarch64.ts, riscv.ts. Callers
// import the lookups (archModule, findArch, archEdit, …) from here, which loads them all.
export * from './registry';
import './x86';
import './aarch64';
import './riscv';

// Every supported architecture, registered on import. Callers import spaceFromRegisters from here.
export * from './registry';
import './x86';
import './aarch64';
import './riscv';

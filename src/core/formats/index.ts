// Every supported architecture, registered on import (../arch). Callers import spaceFromRegisters from here.
export * from './registry';

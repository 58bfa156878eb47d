// TableStore: each table read once per store, also when several loads run at the same time (at a
// stop the map, the tree and the stop-to-stop diff load the same tables together).
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { MemoryReadError, PhysicalMemory, ReadRequest } from '../../../src/core/memory';
import { PageTableSession } from '../../../src/core/ops/session';
import { TableStore, loadTables, walk } from '../../../src/core/walker';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, US = 4n, PS = 128n;
const long4 = (cr3: bigint) => new Map<string, bigint>([
  ['cr0', (1n << 31n) | 1n], ['cr3', cr3], ['cr4', 1n << 5n], ['efer', 1n << 10n],
]);

/** Counts the reads of each address; every batch answers only when `gate` opens (a live source's latency). */
class SlowMemory implements PhysicalMemory {
  readonly count = new Map<number, number>();
  private open!: () => void;
  gate = new Promise<void>((r) => (this.open = r));
  constructor(private readonly inner: SparseMemory) {}
  get ram() {
    return this.inner.ram;
  }
  release(): void {
    this.open();
  }
  read(addr: Parameters<PhysicalMemory['read']>[0], length: number): Promise<Uint8Array> {
    return this.inner.read(addr, length);
  }
  async readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    for (const r of reqs) this.count.set(r.addr, (this.count.get(r.addr) ?? 0) + 1);
    await this.gate;
    signal?.throwIfAborted();
    return this.inner.readMany(reqs);
  }
}

function guest(): SparseMemory {
  const m = new SparseMemory();
  m.write64(0x1000, 0x2000n | P | RW | US);
  m.write64(0x1000 + 8 * 3, 0x5000n | P | RW | US);
  m.write64(0x2000, 0x3000n | P | RW | US);
  m.write64(0x3000, 0x4000n | P | RW | US);
  m.write64(0x3000 + 8, 0x200000n | P | RW | PS);
  for (let i = 0; i < 8; i++) m.write64(0x4000 + 8 * i, BigInt(0x100000 + i * 0x1000) | P | RW | US);
  m.write64(0x5000, 0x3000n | P | RW); // the PD at 0x3000 again, below another PML4 entry
  return m;
}

describe('TableStore', () => {
  it('reads each table once when loads of the same tables run at the same time', async () => {
    const mem = new SlowMemory(guest());
    const space = spaceFromRegisters('x86_64', long4(0x1000n));
    const store = new TableStore(mem);
    const loads = [loadTables(space.roots, store), loadTables(space.roots, store), store.table(0x1000 as never, 4096)];
    await new Promise((r) => setImmediate(r));
    mem.release();
    await Promise.all(loads);
    assert.deepEqual([...mem.count.keys()].sort((a, b) => a - b), [0x1000, 0x2000, 0x3000, 0x4000, 0x5000]);
    for (const [pa, n] of mem.count) assert.equal(n, 1, `table 0x${pa.toString(16)} read ${n} times`);
    assert.equal(store.stats.tablesRead, 5);
    const leaves: number[] = [];
    await walk(space.roots, store, { leaf: (l) => void leaves.push(l.linear) });
    assert.equal(leaves.length, 8 + 1 + 8 + 1);
  });

  it('ends when the source answers fewer reads than asked: the unanswered tables are read errors', async () => {
    const mem = new SlowMemory(guest());
    const short: PhysicalMemory = { ram: mem.ram, read: (a, n) => mem.read(a, n), readMany: async (reqs) => (await mem.readMany(reqs)).slice(0, 1) };
    mem.release();
    const store = new TableStore(short);
    await Promise.all([store.load([{ addr: 0x2000 as never, length: 4096 }, { addr: 0x3000 as never, length: 4096 }]), store.table(0x3000 as never, 4096)]);
    assert.ok(!(store.get(0x2000) instanceof MemoryReadError));
    assert.ok(store.get(0x3000) instanceof MemoryReadError);
    assert.equal(mem.count.get(0x3000), 1);
  });

  it('reads what a concurrent load did not when that load was aborted', async () => {
    const mem = new SlowMemory(guest());
    const space = spaceFromRegisters('x86_64', long4(0x1000n));
    const store = new TableStore(mem);
    const ac = new AbortController();
    const first = loadTables(space.roots, store, { signal: ac.signal });
    const second = loadTables(space.roots, store);
    await new Promise((r) => setImmediate(r));
    ac.abort();
    mem.release();
    await assert.rejects(first, (e: Error) => e.name === 'AbortError');
    await second;
    assert.equal(store.stats.tablesRead, 5);
    assert.ok(!(store.get(0x4000) instanceof MemoryReadError) && store.get(0x4000) !== undefined);
    assert.equal(mem.count.get(0x1000), 2, 'the root was read again after the batch reading it failed');
  });

  it('a session counts its whole space once: a list after a count does not count again', async () => {
    const mem = new SlowMemory(guest());
    mem.release();
    const session = new PageTableSession(spaceFromRegisters('x86_64', long4(0x1000n)), mem);
    let lookups = 0;
    const get = session.store.get.bind(session.store);
    session.store.get = (pa) => (lookups++, get(pa));
    const first = await session.expansion();
    assert.ok(lookups > 0);
    assert.equal(first.leaves, 18);
    first.leaves = 0; // the caller's copy
    lookups = 0;
    assert.deepEqual(await session.expansion(), { leaves: 18, tables: first.tables });
    assert.equal(lookups, 0, 'the second count looked tables up');
    assert.equal((await session.leaves()).length, 18);
  });
});

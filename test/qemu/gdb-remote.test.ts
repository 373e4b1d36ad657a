import { strict as assert } from 'node:assert';
import { GdbRemote, decodePayload, framePacket, checksum, parseStopReply } from '../../debug-adapter/engines/qemu/gdb-remote';
import { FakeStub, runLengthEncode } from './fake-stub';

describe('gdb remote protocol client (fake stub on 127.0.0.1)', () => {
  let stub: FakeStub;
  let gdb: GdbRemote;

  beforeEach(async () => {
    stub = new FakeStub();
    const port = await stub.listen();
    gdb = await GdbRemote.connect('127.0.0.1', port, { timeoutMs: 3000 });
  });
  afterEach(() => {
    gdb.close();
    stub.close();
  });

  it('frames packets with checksums and escapes, and decodes run-length encoding', () => {
    assert.equal(framePacket('g'), '$g#67');
    assert.equal(checksum('OK'), '9a');
    assert.equal(framePacket('a#b'), '$a}\x03b#' + checksum('a}\x03b'));
    assert.equal(decodePayload('0* '), '0000');
    assert.equal(decodePayload(runLengthEncode('x'.repeat(50) + 'y')), 'x'.repeat(50) + 'y');
    assert.equal(decodePayload('a}\x03b'), 'a#b');
  });

  it('negotiates QStartNoAckMode and reads a target description split over includes and chunks', () => {
    assert.equal(gdb.noAck, true);
    assert.ok(stub.received.includes('QStartNoAckMode'));
    assert.equal(gdb.architecture, 'i386:x86-64');
    assert.deepEqual(gdb.registers.map((r) => [r.name, r.regnum, r.offset]), [['rax', 0, 0], ['rip', 1, 8], ['fs_base', 2, 16], ['cr3', 3, 24]]);
  });

  it('reads all registers with g (run-length encoded reply) and one with p, writes with P', async () => {
    stub.regs[3] = 0x1000000n; // many zero bytes: the stub run-length encodes them
    const regs = await gdb.readRegisters();
    assert.equal(regs.get('rax'), 0x1122334455667788n);
    assert.equal(regs.get('cr3'), 0x1000000n);
    assert.equal(await gdb.readRegister('rip'), 0x1000n);
    await gdb.writeRegister('fs_base', 0xdeadbeefn);
    assert.equal(stub.regs[2], 0xdeadbeefn);
    assert.ok(stub.received.includes('P2=efbeadde00000000'));
  });

  it('reads and writes memory with m/M, in chunks, and reports an error reply clearly', async () => {
    await gdb.writeMemory(0x2000n, new Uint8Array([1, 2, 3, 0x23, 0x24, 0x7d]));
    assert.deepEqual([...await gdb.readMemory(0x2000n, 6)], [1, 2, 3, 0x23, 0x24, 0x7d]);
    const big = await gdb.readMemory(0x1000n, 5000);
    assert.equal(big.length, 5000);
    assert.equal(stub.received.filter((p) => p.startsWith('m')).length, 1 + 3);
    await assert.rejects(gdb.readMemory(0x100n, 4), /cannot read memory at 0x100 \(E14\)/);
  });

  it('sets software and hardware breakpoints, continues to them, single-steps, and stops a running target with 0x03', async () => {
    await gdb.insertBreakpoint(0x1010n);
    await gdb.insertBreakpoint(0x1020n, true);
    assert.ok(stub.received.includes('Z0,1010,1') && stub.received.includes('Z1,1020,1'));
    let stop = await gdb.continue();
    assert.equal(stop.kind, 'signal');
    assert.equal(await gdb.readRegister('rip'), 0x1010n);
    assert.equal((await gdb.step()).kind, 'signal');
    assert.equal(await gdb.readRegister('rip'), 0x1011n);
    assert.ok(stub.received.includes('vCont;s'));
    await gdb.removeBreakpoint(0x1010n);
    assert.equal((await gdb.continue()).kind, 'signal');
    assert.equal(await gdb.readRegister('rip'), 0x1020n);
    await gdb.removeBreakpoint(0x1020n, true);
    // Nothing left to hit: the target runs until interrupted; console output arrives meanwhile.
    const outputs: string[] = [];
    gdb.on('output', (s: string) => outputs.push(s));
    const running = gdb.continue();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gdb.running, true);
    gdb.interrupt();
    stop = await running;
    assert.deepEqual(stop.kind === 'signal' && stop.signal, 2);
    assert.deepEqual(outputs, ['console: running\n']);
  });

  it('steps again when the stub reports a step that executed nothing', async () => {
    stub.spuriousSteps = 2;
    const { spurious } = await gdb.stepExecuted();
    assert.equal(spurious, 2);
    assert.equal(await gdb.readRegister('rip'), 0x1001n);
  });

  it('runs monitor commands with qRcmd and collects their O-packet output', async () => {
    const text = await gdb.monitor('info registers');
    assert.match(text, /EFER=0000000000000d01/);
    assert.ok(stub.received.includes('qRcmd,' + Buffer.from('info registers').toString('hex')));
  });

  it('parses stop replies', () => {
    const t = parseStopReply('T05thread:p01.01;swbreak:;');
    assert.equal(t.kind, 'signal');
    assert.equal(t.kind === 'signal' && t.thread, 'p01.01');
    assert.deepEqual(parseStopReply('W00'), { kind: 'exited', code: 0, raw: 'W00' });
  });

  it('rejects a pending request when the stub goes away, with a clear message', async () => {
    const p = gdb.request('vHang', 3000);
    stub.close();
    await assert.rejects(p, /closed/);
    await assert.rejects(gdb.readRegister('rip'), /closed/);
  });
});

describe('gdb remote protocol client: acks', () => {
  it('resends a packet the client rejected for a bad checksum', async () => {
    const stub = new FakeStub();
    const port = await stub.listen();
    // Corrupt the very first reply (qSupported), while acks are still on.
    stub.corruptNext = true;
    const gdb = await GdbRemote.connect('127.0.0.1', port, { timeoutMs: 3000 });
    assert.equal(gdb.noAck, true);
    assert.equal(gdb.registers.length, 4);
    gdb.close();
    stub.close();
  });
});

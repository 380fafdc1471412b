// The restricted unpickler on hand-made pickles: what it builds, and every way out of a
// state dict (foreign globals, calling a storage class, object-building opcodes) refused.
import { describe, expect, it } from 'vitest';
import { BufferStream, PyDict, PyTuple, unpickle, type PyValue } from '../../src/checkpoint/pickle.js';

const noPersistent = (): PyValue => {
  throw new Error('no persistent ids here');
};
const run = (bytes: string): PyValue => unpickle(new BufferStream(Buffer.from(bytes, 'latin1')), noPersistent);

describe('restricted unpickler', () => {
  it('builds plain data: dicts, lists, tuples, ints (incl. LONG1), floats, strings', () => {
    // {'a': [1, -2, 300, 2**70], 'b': ('x', 1.5, None, True)} at protocol 2
    const v = run(
      '\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40eX\x01\x00\x00\x00bq\x03(X\x01\x00\x00\x00xG?\xf8\x00\x00\x00\x00\x00\x00N\x88tq\x04u.',
    );
    expect(v).toBeInstanceOf(PyDict);
    const d = (v as PyDict).map;
    expect(d.get('a')).toEqual([1, -2, 300, 2n ** 70n]);
    expect((d.get('b') as PyTuple).items).toEqual(['x', 1.5, null, true]);
  });

  it.each([
    ['GLOBAL os.system', 'cos\nsystem\n(S\'touch x\'\ntR.', 'refusing global os.system'],
    ['GLOBAL builtins.eval', '\x80\x02c__builtin__\neval\nX\x01\x00\x00\x001\x85R.', 'refusing global __builtin__.eval'],
    ['STACK_GLOBAL subprocess.call', '\x80\x04\x8c\x0asubprocess\x8c\x04call\x93.', 'refusing global subprocess.call'],
    ['copyreg reconstructor', '\x80\x02ccopyreg\n_reconstructor\n.', 'refusing global copyreg._reconstructor'],
    ['calling a storage class', '\x80\x02ctorch\nFloatStorage\n)R.', 'REDUCE on torch.FloatStorage'],
    ['INST opcode', '(X\x02\x00\x00\x00lsios\nsystem\n.', 'unsupported pickle opcode 0x69'],
    ['NEWOBJ opcode', '\x80\x02ctorch\nFloatStorage\n)\x81.', 'unsupported pickle opcode 0x81'],
    ['BUILD on a non-dict', '\x80\x02]}b.', 'BUILD on a list'],
    ['truncated', '\x80\x02}q\x00(X\x05\x00\x00\x00ab', 'pickle ends unexpectedly'],
  ])('%s is refused', (_what, bytes, message) => {
    expect(() => run(bytes)).toThrow(message);
  });
});

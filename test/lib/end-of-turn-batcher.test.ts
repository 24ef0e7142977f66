import { describe, expect, it } from 'vitest';
import { EndOfTurnBatcher } from '../../src/lib/end-of-turn-batcher.js';

const turnEnd = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('EndOfTurnBatcher', () => {
  it('sends each key’s batch once, at the end of the turn it was opened in, in the order opened', async () => {
    const sent: [string, string[]][] = [];
    const b = new EndOfTurnBatcher<string[]>((key, items) => sent.push([key, items]));
    b.open('p1', ['a']);
    b.open('p2', ['x']);
    b.get('p1')!.push('b');
    expect(sent).toEqual([]);
    await turnEnd();
    expect(sent).toEqual([['p1', ['a', 'b']], ['p2', ['x']]]);
    expect(b.get('p1')).toBeUndefined();
    await turnEnd();
    expect(sent).toHaveLength(2);
  });

  it('sendNow sends that batch alone and at once; the next item opens a new one that leaves with the turn', async () => {
    const sent: [string, string[]][] = [];
    const b = new EndOfTurnBatcher<string[]>((key, items) => sent.push([key, items]));
    b.open('p1', ['a']);
    b.open('p2', ['x']);
    b.sendNow('p1', b.get('p1')!);
    expect(sent).toEqual([['p1', ['a']]]);
    expect(b.get('p1')).toBeUndefined();
    b.open('p1', ['c']);
    await turnEnd();
    expect(sent).toEqual([['p1', ['a']], ['p2', ['x']], ['p1', ['c']]]);
  });

  it('flush (a close) sends what is open at once, and the scheduled turn end then sends nothing again', async () => {
    const sent: string[] = [];
    const b = new EndOfTurnBatcher<string>((key) => sent.push(key));
    b.open('p1', 'a');
    b.flush();
    expect(sent).toEqual(['p1']);
    await turnEnd();
    expect(sent).toEqual(['p1']);
    b.open('p2', 'b'); // a later turn schedules its own flush
    await turnEnd();
    expect(sent).toEqual(['p1', 'p2']);
  });
});

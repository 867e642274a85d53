import { describe, expect, it } from 'vitest';
import { InOrderPerKey } from '../../src/pipeline/in-order-per-key.ts';

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('InOrderPerKey', () => {
  it('runs one key’s tasks in the order given, a slower first one included, other keys alongside', async () => {
    const inOrder = new InOrderPerKey();
    const finished: string[] = [];
    const task = (name: string, milliseconds: number) => async () => {
      await sleep(milliseconds);
      finished.push(name);
      return name;
    };
    const results = await Promise.all([
      inOrder.run('chat-a', task('a1', 60)),
      inOrder.run('chat-a', task('a2', 0)),
      inOrder.run('chat-b', task('b1', 10)),
      inOrder.run('chat-a', task('a3', 0)),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
    expect(finished).toEqual(['b1', 'a1', 'a2', 'a3']);
    await sleep(0);
    expect(inOrder.size).toBe(0);
  });

  it('goes on with the next task after one fails, and hands the failure to its own caller', async () => {
    const inOrder = new InOrderPerKey();
    const failing = inOrder.run('chat', async () => {
      await sleep(10);
      throw new Error('boom');
    });
    const next = inOrder.run('chat', async () => 'next');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });
});

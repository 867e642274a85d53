import { describe, expect, it } from 'vitest';
import { redisAnswers } from '../../src/redis/redis-connection.ts';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

// Redis (AOF, appendfsync always) crashes and stays down for 4 s while messages keep arriving on both platforms: the
// adapters hold what they receive (ioredis queues the commands until it reconnects) and nothing is lost.
describe('chaos: Redis down for seconds while messages arrive', () => {
  const chaos = useChatStack({ workers: 2, appendOnly: true });

  it('answers the messages received during the outage once, in order, with an exact conversation', {
    timeout: 150_000,
  }, async () => {
    const { stack } = chaos;
    const channels = chatChannels(6, 2);
    await sendRounds(stack, channels, 1, 50, 0);
    const restart = stack.redisServer.restart('crash', 4000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const duringOutage = await sendRounds(stack, channels, 2, 250, 1);
    const stillDown = !(await redisAnswers(stack.redisServer.url));
    await restart;
    await sendRounds(stack, channels, 1, 50, 3);

    const report = await settleAndVerify(stack, 'Redis outage', 60_000);
    // The second and third rounds were sent while Redis was down.
    expect(duringOutage).toHaveLength(12);
    expect(stillDown).toBe(true);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});

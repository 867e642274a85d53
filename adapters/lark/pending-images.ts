import type { Redis } from 'ioredis';

/** A picture that came alone, waiting for its sender's question. */
export interface HeldImage {
  messageId: string;
  fileKey: string;
}

// Deletes the held image only if it is still the one this timer held (a newer picture replaces it).
const takeIfSame = `
local value = redis.call('GET', KEYS[1])
if value and cjson.decode(value)['messageId'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return value
end
return false`;

/**
 * Pictures sent alone, per chat and sender, in Redis (shared by replicas): the sender's next message takes the
 * picture with it (`GETDEL`), or the holding replica's timer answers it alone. Exactly one of the two wins.
 */
export class PendingImages {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly holdMs: number,
  ) {}

  private key(chatId: string, userId: string): string {
    return `${this.prefix}:lark-held:${chatId}:${userId}`;
  }

  /** Holds a picture (replacing an older one of the same sender in the chat). */
  async hold(chatId: string, userId: string, image: HeldImage): Promise<void> {
    await this.redis.set(this.key(chatId, userId), JSON.stringify(image), 'PX', this.holdMs * 3 + 60_000);
  }

  /** Takes the sender's held picture, if any. */
  async take(chatId: string, userId: string): Promise<HeldImage | undefined> {
    const value = await this.redis.getdel(this.key(chatId, userId));
    return value === null ? undefined : (JSON.parse(value) as HeldImage);
  }

  /** Takes the held picture only if it is still `messageId` (the timer's claim). */
  async takeIfStill(chatId: string, userId: string, messageId: string): Promise<HeldImage | undefined> {
    const value = (await this.redis.eval(takeIfSame, 1, this.key(chatId, userId), messageId)) as string | null;
    return value === null || value === undefined ? undefined : (JSON.parse(value) as HeldImage);
  }
}

import type { Client } from 'discord.js';
import type { Logger } from '../../src/observability/logger.ts';
import type { CatchUpEvent } from './gateway-catch-up.ts';

/** The parts of discord.js's client internals used here (stable through v14, typed private). */
interface ClientInternals {
  actions: { MessageCreate: { handle(data: Record<string, unknown>): unknown } };
  ws: { _ws: { destroy(options: { code: number; reason: string }): Promise<void> } | null };
}

/**
 * Hands an event replayed on the previous process's session to the client, as if its own gateway had sent it: a
 * MESSAGE_CREATE goes through discord.js's own action (its Message object, channel and member from the caches, then
 * the `messageCreate` handlers). A replayed slash command is past Discord's 3 s deadline for its first answer and is
 * only logged.
 */
export function replayEvent(client: Client, event: CatchUpEvent, logger: Logger): void {
  if (event.t === 'MESSAGE_CREATE') {
    (client as unknown as ClientInternals).actions.MessageCreate.handle(event.d);
  } else if (event.t === 'INTERACTION_CREATE') {
    logger.warn(
      { interactionId: event.d['id'] },
      'discord: a slash command sent while no adapter was connected is too old to answer (Discord wants a first answer within 3 s)',
    );
  }
}

/**
 * Closes every shard's gateway connection with 4200 (@discordjs/ws's "resuming" code): any code but 1000/1001 leaves
 * the session resumable, which `client.destroy()` (1000) would end.
 */
export async function closeResumable(client: Client): Promise<void> {
  await (client as unknown as ClientInternals).ws._ws
    ?.destroy({ code: 4200, reason: 'restarting: the next process resumes this session' })
    .catch(() => {});
}

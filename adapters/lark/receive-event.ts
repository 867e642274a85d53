import type { IngestAttachment } from '../../src/contracts/ingest-job.ts';
import { channelKeyFor, requestIdFor } from '../../src/contracts/platform.ts';
import type { HeldPicture, HeldPictures } from '../../src/pipeline/held-pictures.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ReceivedMessage, receiveMessage } from '../../src/pipeline/receive-message.ts';
import { type DecodedLarkMessage, decodeMessageEvent, type LarkMessageEvent } from './decode.ts';
import type { LarkApi } from './lark-api.ts';
import type { LarkSettings } from './lark-config.ts';

/** What the event handler needs. */
export interface ReceiveEventDependencies {
  pipeline: PipelineContext;
  api: LarkApi;
  botOpenId: string;
  settings: Pick<LarkSettings, 'eventMaxAgeSeconds' | 'imageWaitMs' | 'allowedChats' | 'allowedUsers'>;
  languageHint: string;
  adapterInstance: string;
  /** Pictures sent alone, waiting for their sender's question (`<chatId>:<openId>`). */
  heldPictures: HeldPictures;
}

/** What the handler did with an event (for logs and tests). */
export type ReceiveOutcome =
  | 'enqueued'
  | 'duplicate'
  | 'held'
  | 'ignored'
  | 'stale'
  | 'not_for_bot'
  | 'not_allowed'
  | 'unsupported';

const parentLookupMs = 1500;

function platformImage(messageId: string, fileKey: string): IngestAttachment {
  return { kind: 'platform', messageId, fileKey, mediaType: 'image' };
}

function receivedOf(
  dependencies: ReceiveEventDependencies,
  message: DecodedLarkMessage,
  attachments: IngestAttachment[],
): ReceivedMessage {
  return {
    platform: 'lark',
    platformMessageId: message.messageId,
    channelKey: channelKeyFor('lark', message.chatId, message.threadId),
    replyTarget: {
      messageId: message.messageId,
      chatId: message.chatId,
      ...(message.threadId === undefined ? {} : { threadId: message.threadId }),
    },
    user: { id: message.senderOpenId, name: message.senderOpenId },
    text: message.text,
    attachments,
    languageHint: dependencies.languageHint,
    adapterInstance: dependencies.adapterInstance,
    ...(message.createdAt === undefined ? {} : { receivedAt: new Date(Math.min(message.createdAt, Date.now())) }),
  };
}

async function enqueue(
  dependencies: ReceiveEventDependencies,
  message: DecodedLarkMessage,
  attachments: IngestAttachment[],
): Promise<ReceiveOutcome> {
  const result = await receiveMessage(dependencies.pipeline, receivedOf(dependencies, message, attachments));
  return result.duplicate ? 'duplicate' : 'enqueued';
}

const holderOf = (message: DecodedLarkMessage) => `${message.chatId}:${message.senderOpenId}`;

/** The picture a reply quotes (the user answered a picture with a question), looked up within a short budget. */
async function quotedImage(
  dependencies: ReceiveEventDependencies,
  parentId: string,
): Promise<IngestAttachment | undefined> {
  const lookup = dependencies.api.messageImageKey(parentId).catch(() => undefined);
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), parentLookupMs).unref());
  const fileKey = await Promise.race([lookup, timeout]);
  return fileKey === undefined ? undefined : platformImage(parentId, fileKey);
}

/**
 * Holds a picture that came alone (in Redis, with a delayed job that answers it by itself after the wait unless a
 * question takes it first). In a group a picture without a mention was not for the bot: it is only kept for a question.
 */
async function holdImage(
  dependencies: ReceiveEventDependencies,
  message: DecodedLarkMessage,
  fileKey: string,
  triggered: boolean,
): Promise<ReceiveOutcome> {
  const { pipeline, heldPictures } = dependencies;
  // A redelivered picture must not be held (and answered) twice.
  if (!(await pipeline.receipts.markReceived(`${requestIdFor('lark', message.messageId)}.held`))) return 'duplicate';
  const attachments = [platformImage(message.messageId, fileKey)];
  await heldPictures.hold(holderOf(message), {
    id: message.messageId,
    attachments,
    ...(triggered ? { alone: receivedOf(dependencies, message, attachments) } : {}),
  });
  return 'held';
}

/**
 * Handles one `im.message.receive_v1` event and returns fast (Lark wants its answer within 3 s): filters, drops
 * redeliveries (`SET NX` on the message id in Redis), and enqueues; images are downloaded later by the ingest worker.
 */
export async function receiveLarkEvent(
  dependencies: ReceiveEventDependencies,
  event: LarkMessageEvent,
): Promise<ReceiveOutcome> {
  const { pipeline, settings, botOpenId } = dependencies;
  const message = decodeMessageEvent(event, botOpenId);
  if (message === undefined) {
    pipeline.logger.info(
      { messageType: event.message?.message_type, messageId: event.message?.message_id },
      'Lark message not understood (type or content): not answered',
    );
    return 'unsupported';
  }
  const logger = pipeline.logger.child({ messageId: message.messageId, chatId: message.chatId });
  if (message.fromBot || message.senderOpenId === botOpenId || message.senderOpenId === '') return 'ignored';
  if (message.createdAt !== undefined && Date.now() - message.createdAt > settings.eventMaxAgeSeconds * 1000) {
    logger.info({ ageSeconds: Math.round((Date.now() - message.createdAt) / 1000) }, 'stale Lark event dropped');
    return 'stale';
  }
  if (
    (settings.allowedChats.length > 0 && !settings.allowedChats.includes(message.chatId)) ||
    (settings.allowedUsers.length > 0 && !settings.allowedUsers.includes(message.senderOpenId))
  ) {
    return 'not_allowed';
  }
  const triggered = message.chatType === 'p2p' || message.mentionsBot;
  const [ownImage] = message.imageKeys;
  if (ownImage !== undefined && message.text === '' && settings.imageWaitMs > 0) {
    return await holdImage(dependencies, message, ownImage, triggered);
  }
  if (!triggered) return 'not_for_bot';

  if ((await pipeline.redis.exists(pipeline.keys.received(requestIdFor('lark', message.messageId)))) === 1) {
    return 'duplicate'; // checked before a held picture is taken, so a redelivery cannot take a newer one
  }
  let attachment: IngestAttachment | undefined;
  let held: HeldPicture | undefined;
  if (ownImage !== undefined) {
    attachment = platformImage(message.messageId, ownImage);
    await dependencies.heldPictures.take(holderOf(message)); // superseded by this picture
  } else {
    held = await dependencies.heldPictures.take(holderOf(message));
    if (held !== undefined) attachment = held.attachments[0];
    else if (message.parentId !== undefined) attachment = await quotedImage(dependencies, message.parentId);
  }
  const outcome = await enqueue(dependencies, message, attachment === undefined ? [] : [attachment]);
  if (outcome === 'duplicate' && held !== undefined) {
    await dependencies.heldPictures.restore(holderOf(message), held); // another replica won
  }
  logger.debug({ outcome, image: attachment !== undefined }, 'Lark message received');
  return outcome;
}

import { type Job, UnrecoverableError } from 'bullmq';
import { type DrainJob, drainJobSchema, type Progress } from '../contracts/channel-entry.ts';
import { type ChatReply, type ReplyError, replyErrorSchema } from '../contracts/chat-reply.ts';
import type { ChatRequest } from '../contracts/chat-request.ts';
import { parseContract } from '../contracts/contract-error.ts';
import { t } from '../i18n/catalog.ts';
import { chooseReplyLanguage, type ReplyLanguageChoice } from '../language/choose-reply-language.ts';
import { detectLanguage } from '../language/detect-language.ts';
import { replyLanguageFromLocale } from '../language/reply-language-from-locale.ts';
import { toTraditional } from '../language/to-traditional.ts';
import type { ChatModel, ChatModelResult, ChatTurn } from '../model/chat-model.ts';
import { requestWaitSeconds } from '../observability/metrics.ts';
import type { ContextTurn } from '../store/context-turn.ts';
import { parseCommand } from '../text/parse-command.ts';
import type { PipelineContext } from './pipeline-context.ts';
import { ProgressThrottle } from './throttle-progress.ts';

/** Tuning of the drain loop. */
export interface DrainOptions {
  /** Generation attempts of one request (counting worker crashes) before it is answered with an error. @defaultValue 3 */
  maxAttempts?: number;
  /** A head whose ingest has not finished after this long is dropped (its ingest died). @defaultValue 600000 */
  staleEntryMs?: number;
  /**
   * Requests one drain job answers before it yields: the channel's follow-up drain job then waits behind the other
   * channels' jobs, so a flooded channel cannot starve a quiet one (`DRAIN_TURN_MAX`). @defaultValue 3
   */
  turnMax?: number;
  /** This worker's name, sent with progress. @defaultValue `worker-<pid>` */
  workerName?: string;
  /** True once the worker is shutting down: the current answer is finished, the rest of the line handed on. */
  shouldStop?: () => boolean;
}

/** What one drain job did. */
export interface DrainResult {
  answered: string[];
}

const drainDefaults = { maxAttempts: 3, staleEntryMs: 600_000, turnMax: 3 } as const satisfies Pick<
  Required<DrainOptions>,
  'maxAttempts' | 'staleEntryMs' | 'turnMax'
>;

/** The reply error key of a bad-input error (an UnrecoverableError or an error carrying a `key`), else undefined. */
function inputErrorKey(error: unknown): ReplyError | undefined {
  if (!(error instanceof Error)) return undefined;
  const key = 'key' in error ? replyErrorSchema.safeParse(error.key) : undefined;
  if (key?.success) return key.data;
  return error instanceof UnrecoverableError || error.name.endsWith('InputError') ? 'image_unreadable' : undefined;
}

function lastLanguage(turns: readonly ContextTurn[]): ContextTurn['language'] | undefined {
  return turns.at(-1)?.language;
}

function currentImage(turns: readonly ContextTurn[]): string | undefined {
  for (let index = turns.length - 1; index >= 0; index -= 1) {
    const sha256 = turns[index]?.imageSha256;
    if (sha256 !== undefined) return sha256;
  }
  return undefined;
}

function replyFor(
  request: ChatRequest,
  previous: string | undefined,
  choice: ReplyLanguageChoice,
  fields: Pick<ChatReply, 'text' | 'finishReason' | 'demo'> & { error?: ReplyError },
): ChatReply {
  return {
    version: 1,
    requestId: request.id,
    platform: request.platform,
    replyTarget: request.replyTarget,
    language: choice.language,
    ...fields,
    ...(previous === undefined ? {} : { after: previous }),
    ...(choice.noteKey === undefined || fields.error !== undefined
      ? {}
      : {
          noteKey: choice.noteKey,
          ...(choice.noteLanguage === undefined ? {} : { noteLanguage: choice.noteLanguage }),
        }),
  };
}

/** The language choice of a stored answer's reply: this attempt's, unless the stored answer is in another language. */
function replyChoiceFor(choice: ReplyLanguageChoice, answer: Pick<ContextTurn, 'language'>): ReplyLanguageChoice {
  return answer.language === choice.language ? choice : { language: answer.language };
}

/** The reply fields of an answer as stored in the channel's context. */
function replyFields(answer: Pick<ContextTurn, 'text' | 'finishReason'>, model: ChatModel) {
  return { text: answer.text, finishReason: answer.finishReason ?? 'stop', ...(model.demo ? { demo: true } : {}) };
}

/**
 * True once the channel's previous reply has reached the platform (checked until it has): until then this answer
 * streams nothing, so its first message cannot appear above the previous answer.
 */
function previousReplyGate(pipeline: PipelineContext, request: ChatRequest, previous: string | undefined) {
  let done = previous === undefined;
  return async (): Promise<boolean> => {
    if (!done && previous !== undefined) done = await pipeline.queues.replyDone(request.platform, previous);
    return done;
  };
}

/**
 * Answers one request of the channel (the head of its line); never runs two of one channel at once. `previous` is
 * the channel's request answered before it: the reply names it (`after`) and streaming waits for its delivery.
 */
async function answerRequest(
  pipeline: PipelineContext,
  model: ChatModel,
  job: Job,
  head: { request: ChatRequest; rejection: ReplyError | undefined; previous: string | undefined },
  options: Required<DrainOptions>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { request, rejection, previous } = head;
  const { contexts, images, settings } = pipeline;
  // The attempt is counted up front (one round trip with the context read); only the model path looks at it.
  const [stored, attempt] = await Promise.all([
    contexts.load(request.channelKey),
    pipeline.line.countAttempt(request.id),
  ]);
  // A worker that died after storing this request's turns, before its reply was enqueued, left its answer here.
  const turns = stored.filter((turn) => turn.requestId !== request.id);
  const storedAnswer = stored.find((turn) => turn.requestId === request.id && turn.role === 'assistant');
  const question = request.text.trim();
  const detected = question === '' ? undefined : detectLanguage(question);
  const choice = chooseReplyLanguage({
    detected,
    channelLast: lastLanguage(turns),
    platformHint: request.languageHint,
  });
  const { language } = choice;
  const logger = pipeline.logger.child({ requestId: request.id, channelKey: request.channelKey });
  // Every reply names the channel's previous request (`after`); errors are answered in the chosen language.
  const enqueueReply = (languageChoice: ReplyLanguageChoice, fields: Parameters<typeof replyFor>[3]) =>
    pipeline.queues.addReply(replyFor(request, previous, languageChoice, fields));
  const replyError = (error: ReplyError) => enqueueReply(choice, { text: '', finishReason: 'error', error });

  if (rejection !== undefined) {
    await replyError(rejection);
    return;
  }
  const command = parseCommand(question);
  if (command !== undefined) {
    if (command.kind === 'reset') await contexts.reset(request.channelKey);
    // The web page is in a language of its own (its buttons and labels): a command typed or clicked there is answered
    // in it, not in the conversation's, and its help speaks of the page (no groups to mention the bot in).
    const web = request.platform === 'web';
    // (The page shows English to a browser in any language but Chinese and English; see webStrings.)
    const commandLanguage =
      web && request.languageHint !== undefined ? (replyLanguageFromLocale(request.languageHint) ?? 'en') : language;
    const text = t(commandLanguage, command.kind === 'reset' ? 'reset.done' : web ? 'help.web' : 'help.text');
    await enqueueReply({ language: commandLanguage }, { text, finishReason: 'stop' });
    return;
  }
  if (storedAnswer !== undefined) {
    logger.info('answering with the answer a previous attempt stored');
    await enqueueReply(replyChoiceFor(choice, storedAnswer), replyFields(storedAnswer, model));
    return;
  }
  if (attempt > options.maxAttempts) {
    logger.error({ attempt }, 'giving up on a request that failed every attempt');
    await replyError('model_unavailable');
    return;
  }

  // Ziya's demo starts a new history when the picture changes: turns about an earlier picture are left out.
  const ownImage = request.images[0];
  const channelImage = currentImage(turns);
  const imageSha256 = ownImage?.sha256 ?? channelImage;
  const imageBytes = imageSha256 === undefined ? undefined : await images.get(imageSha256);
  if (ownImage !== undefined && imageBytes === undefined) {
    await replyError('image_unreadable');
    return;
  }
  const history: ChatTurn[] =
    ownImage !== undefined && ownImage.sha256 !== channelImage
      ? []
      : turns.map((turn) => ({
          requestId: turn.requestId,
          role: turn.role,
          text: turn.text,
          ...(turn.imageSha256 === undefined ? {} : { imageSha256: turn.imageSha256 }),
        }));

  const shown = (text: string) => (language === 'zh-TW' ? toTraditional(text) : text);
  const previousDelivered = previousReplyGate(pipeline, request, previous);
  const throttle = new ProgressThrottle<string>(settings.PROGRESS_INTERVAL_MS, async (text) => {
    if (!(await previousDelivered())) return; // a later offer streams the text once it is
    const progress: Progress = {
      version: 1,
      requestId: request.id,
      platform: request.platform,
      channelKey: request.channelKey,
      adapterInstance: request.adapterInstance,
      worker: options.workerName,
      text: shown(text),
    };
    await job.updateProgress(progress);
  });
  const timeout = AbortSignal.timeout(settings.GENERATION_TIMEOUT_MS);
  const generationSignal = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  requestWaitSeconds.observe(
    { platform: request.platform },
    Math.max(0, (Date.now() - Date.parse(request.receivedAt)) / 1000),
  );
  let result: ChatModelResult;
  try {
    result = await model.answer({
      requestId: request.id,
      ...(imageSha256 !== undefined && imageBytes !== undefined
        ? { image: { sha256: imageSha256, bytes: imageBytes } }
        : {}),
      history,
      question,
      language,
      instruction: t(language, 'instruction.answer_in_language'),
      generation: { maxNewTokens: settings.MAX_NEW_TOKENS },
      signal: generationSignal,
      onText: (textSoFar) => throttle.offer(textSoFar),
    });
  } catch (error) {
    await throttle.stop();
    const inputError = inputErrorKey(error);
    if (inputError !== undefined) {
      logger.warn({ error: (error as Error).message }, 'the model refused the input');
      await replyError(inputError);
      return;
    }
    throw error; // transient: the drain job is retried with backoff and this request stays at the head
  }
  await throttle.stop();
  if (result.finishReason === 'aborted') {
    if (!timeout.aborted) throw new Error('generation aborted: the worker is shutting down'); // retried elsewhere
    logger.warn({ timeoutMs: settings.GENERATION_TIMEOUT_MS }, 'generation timed out');
    await replyError('timeout');
    return;
  }
  const at = new Date().toISOString();
  const ownAnswer: ContextTurn = {
    requestId: request.id,
    role: 'assistant',
    text: shown(result.text),
    language,
    finishReason: result.finishReason,
    at,
  };
  // The turns are stored first and the reply says what the store holds: when another attempt stored this request's
  // turns first (this one was taken over after a stall), the channel sees one answer, in its reply and its context.
  const { stored: storedNow } = await contexts.append(request.channelKey, request.id, [
    {
      requestId: request.id,
      role: 'user',
      text: question,
      ...(imageSha256 === undefined || imageBytes === undefined ? {} : { imageSha256 }),
      language,
      at,
    },
    ownAnswer,
  ]);
  const answer = storedNow.find((turn) => turn.role === 'assistant') ?? ownAnswer;
  await enqueueReply(replyChoiceFor(choice, answer), replyFields(answer, model));
  logger.info(
    {
      language,
      promptTokens: result.promptTokens,
      generatedTokens: result.generatedTokens,
      usedCachedEmbedding: result.usedCachedEmbedding,
      totalMs: Math.round(result.timings.totalMs),
    },
    'answered',
  );
}

/**
 * The `requests` processor: answers the channel's line head first, one at a time, removing each only after its
 * reply is enqueued, at most `turnMax` per job before the channel goes to the back of the queue. A worker killed
 * mid-answer leaves the head in place; the job's lock expires, another worker takes the job over and answers the same
 * head again: an answer whose turns were stored before the death is sent as stored, not generated again, and reply job
 * ids make a second enqueue a no-op.
 */
export function createDrainProcessor(pipeline: PipelineContext, model: ChatModel, options: DrainOptions = {}) {
  const settings = { ...drainDefaults, workerName: `worker-${process.pid}`, shouldStop: () => false, ...options };
  return async (job: Job, _token?: string, signal?: AbortSignal): Promise<DrainResult> => {
    const { channelKey }: DrainJob = parseContract('DrainJob', drainJobSchema, job.data);
    const answered: string[] = [];
    for (;;) {
      if (signal?.aborted) throw new Error('drain aborted');
      const head = await pipeline.line.peek(channelKey);
      if (head === undefined) return { answered };
      const { entry } = head;
      if (head.answered) {
        await pipeline.line.leave(channelKey, head.requestId); // a redelivery of an answered request
        continue;
      }
      if (entry === undefined) {
        // Still in ingest: the ingest worker adds a drain job when it is done. A head whose ingest died long ago
        // would block the channel forever, so it is dropped.
        if (Date.now() - head.joinedAt > settings.staleEntryMs) {
          pipeline.logger.warn({ requestId: head.requestId }, 'dropping a request whose ingest never finished');
          await pipeline.line.leave(channelKey, head.requestId);
          continue;
        }
        return { answered };
      }
      await answerRequest(
        pipeline,
        model,
        job,
        { request: entry.request, rejection: entry.rejection, previous: head.previousRequestId },
        settings,
        signal,
      );
      await pipeline.line.finish(channelKey, head.requestId);
      answered.push(head.requestId);
      const yielding = settings.shouldStop() || answered.length >= settings.turnMax;
      if (yielding && (await pipeline.line.length(channelKey)) > 0) {
        // Shutting down, or this turn is over: hand the rest of the line to a follow-up drain job (kept by
        // `keepLastIfActive` and enqueued when this one completes, behind the other channels' waiting jobs).
        await pipeline.queues.addDrain(channelKey);
        return { answered };
      }
    }
  };
}

import type { ChatModel, ChatModelRequest, ChatModelResult } from '../../src/model/chat-model.ts';

/** Wraps a real model and records each request with its result (the prompt the model saw, cache use). */
export class RecordingChatModel implements ChatModel {
  readonly calls: Array<{ request: ChatModelRequest; result?: ChatModelResult }> = [];

  constructor(private readonly inner: ChatModel) {}

  get modelId(): string {
    return this.inner.modelId;
  }

  get demo(): boolean {
    return this.inner.demo;
  }

  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    const call: { request: ChatModelRequest; result?: ChatModelResult } = { request };
    this.calls.push(call);
    call.result = await this.inner.answer(request);
    return call.result;
  }

  /** The recorded call of a request id (the last one when it was asked more than once). */
  callOf(requestId: string): { request: ChatModelRequest; result?: ChatModelResult } | undefined {
    return this.calls.findLast((call) => call.request.requestId === requestId);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

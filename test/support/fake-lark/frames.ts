import protobuf from 'protobufjs';

/** One header of a long-connection frame. */
export interface FrameHeader {
  key: string;
  value: string;
}

/** A `pbbp2.Frame` of the Lark long connection (the SDK's wire format). */
export interface Frame {
  SeqID: number | Long;
  LogID: number | Long;
  service: number;
  /** 0 control (ping/pong), 1 data (events and their acks). */
  method: number;
  headers: FrameHeader[];
  payloadEncoding?: string;
  payloadType?: string;
  payload?: Uint8Array;
  LogIDNew?: string;
}

type Long = { low: number; high: number };

// The same field numbers and types as the SDK's generated pbbp2 code.
const root = protobuf.Root.fromJSON({
  nested: {
    pbbp2: {
      nested: {
        Header: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        Frame: {
          fields: {
            SeqID: { type: 'uint64', id: 1 },
            LogID: { type: 'uint64', id: 2 },
            service: { type: 'int32', id: 3 },
            method: { type: 'int32', id: 4 },
            headers: { rule: 'repeated', type: 'Header', id: 5 },
            payloadEncoding: { type: 'string', id: 6 },
            payloadType: { type: 'string', id: 7 },
            payload: { type: 'bytes', id: 8 },
            LogIDNew: { type: 'string', id: 9 },
          },
        },
      },
    },
  },
});
const frameType = root.lookupType('pbbp2.Frame');

/** Encodes a frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  return frameType.encode(frameType.fromObject(frame)).finish();
}

/** Decodes a frame. */
export function decodeFrame(bytes: Uint8Array): Frame {
  return frameType.toObject(frameType.decode(bytes), { longs: Number, defaults: true }) as Frame;
}

/** A header's value. */
export function headerOf(frame: Frame, key: string): string | undefined {
  return frame.headers.find((header) => header.key === key)?.value;
}

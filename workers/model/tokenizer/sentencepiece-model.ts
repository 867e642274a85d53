import protobuf from 'protobufjs';

/** `ModelProto.SentencePiece.Type` from sentencepiece_model.proto. */
export const sentencePieceType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** `TrainerSpec.ModelType` from sentencepiece_model.proto. */
export const sentencePieceModelType = { unigram: 1, bpe: 2, word: 3, char: 4 } as const;

/** One vocabulary entry of a SentencePiece model. */
export interface SentencePiece {
  /** The piece text, `▁` standing for a space; byte pieces are spelled `<0xAB>`. */
  piece: string;
  /** Higher scores merge first in BPE models. */
  score: number;
  /** One of {@link sentencePieceType}. */
  type: number;
}

/** The parts of a SentencePiece `tokenizer.model` that a tokenizer conversion needs, with proto defaults applied. */
export interface SentencePieceModel {
  /** The vocabulary in id order. */
  pieces: SentencePiece[];
  /** The `trainer_spec` fields that change how text is tokenized. */
  trainerSpec: {
    modelType: number;
    vocabSize: number;
    byteFallback: boolean;
    unkId: number;
    bosId: number;
    eosId: number;
    padId: number;
    unkPiece: string;
    bosPiece: string;
    eosPiece: string;
    padPiece: string;
  };
  /** The `normalizer_spec` fields that change how text is tokenized. */
  normalizerSpec: {
    name: string;
    precompiledCharsmap: Uint8Array;
    addDummyPrefix: boolean;
    removeExtraWhitespaces: boolean;
    escapeWhitespaces: boolean;
  };
}

// Field numbers and defaults from google/sentencepiece src/sentencepiece_model.proto (proto2). Only the fields a
// conversion reads are declared; protobufjs skips the others (training corpus options, self-test data, ...).
const schema = {
  nested: {
    sentencepiece: {
      nested: {
        TrainerSpec: {
          fields: {
            modelType: { type: 'int32', id: 3, options: { default: sentencePieceModelType.unigram } },
            vocabSize: { type: 'int32', id: 4, options: { default: 8000 } },
            byteFallback: { type: 'bool', id: 35, options: { default: false } },
            unkId: { type: 'int32', id: 40, options: { default: 0 } },
            bosId: { type: 'int32', id: 41, options: { default: 1 } },
            eosId: { type: 'int32', id: 42, options: { default: 2 } },
            padId: { type: 'int32', id: 43, options: { default: -1 } },
            unkPiece: { type: 'string', id: 45, options: { default: '<unk>' } },
            bosPiece: { type: 'string', id: 46, options: { default: '<s>' } },
            eosPiece: { type: 'string', id: 47, options: { default: '</s>' } },
            padPiece: { type: 'string', id: 48, options: { default: '<pad>' } },
          },
        },
        NormalizerSpec: {
          fields: {
            name: { type: 'string', id: 1 },
            precompiledCharsmap: { type: 'bytes', id: 2 },
            addDummyPrefix: { type: 'bool', id: 3, options: { default: true } },
            removeExtraWhitespaces: { type: 'bool', id: 4, options: { default: true } },
            escapeWhitespaces: { type: 'bool', id: 5, options: { default: true } },
          },
        },
        ModelProto: {
          fields: {
            pieces: { rule: 'repeated', type: 'SentencePiece', id: 1 },
            trainerSpec: { type: 'TrainerSpec', id: 2 },
            normalizerSpec: { type: 'NormalizerSpec', id: 3 },
          },
          nested: {
            SentencePiece: {
              fields: {
                piece: { type: 'string', id: 1 },
                score: { type: 'float', id: 2 },
                type: { type: 'int32', id: 3, options: { default: sentencePieceType.normal } },
              },
            },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
const modelProtoType = root.lookupType('sentencepiece.ModelProto');
const trainerSpecType = root.lookupType('sentencepiece.TrainerSpec');
const normalizerSpecType = root.lookupType('sentencepiece.NormalizerSpec');
const objectOptions = { defaults: true, longs: Number, bytes: Uint8Array } as const;

/** Parses the bytes of a SentencePiece `tokenizer.model` (a serialized `sentencepiece.ModelProto`). */
export function parseSentencePieceModel(modelBytes: Uint8Array): SentencePieceModel {
  const message = modelProtoType.decode(modelBytes);
  const model = modelProtoType.toObject(message, objectOptions) as {
    pieces?: { piece?: string; score?: number; type?: number }[];
    trainerSpec?: object;
    normalizerSpec?: object;
  };
  // An absent sub-message has its own defaults, which toObject leaves out: fill them from an empty message.
  const trainerSpec = model.trainerSpec ?? trainerSpecType.toObject(trainerSpecType.create(), objectOptions);
  const normalizerSpec =
    model.normalizerSpec ?? normalizerSpecType.toObject(normalizerSpecType.create(), objectOptions);
  const pieces = (model.pieces ?? []).map((entry) => ({
    piece: entry.piece ?? '',
    score: entry.score ?? 0,
    type: entry.type ?? sentencePieceType.normal,
  }));
  const normalizer = normalizerSpec as SentencePieceModel['normalizerSpec'];
  return {
    pieces,
    trainerSpec: trainerSpec as SentencePieceModel['trainerSpec'],
    normalizerSpec: { ...normalizer, precompiledCharsmap: Uint8Array.from(normalizer.precompiledCharsmap ?? []) },
  };
}

/** Serializes a SentencePiece model (the fields of {@link SentencePieceModel}) as `tokenizer.model` bytes. */
export function serializeSentencePieceModel(model: SentencePieceModel): Uint8Array {
  const message = modelProtoType.fromObject(model);
  return modelProtoType.encode(message).finish();
}

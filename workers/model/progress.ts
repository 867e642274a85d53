import { formatBytes, formatSeconds } from './format-quantity.ts';
import { ExternalDataWriter } from './onnx/graph-builder.ts';

/** A snapshot of a model build, handed to `onProgress`. */
export interface BuildProgressEvent {
  /** What is being written: `decoder`, `embed`, `vision`, `tokenizer`, `done`. */
  stage: string;
  tensorsDone: number;
  tensorsTotal: number;
  /** Bytes written to all `.onnx.data` files so far. */
  bytesWritten: number;
  elapsedSeconds: number;
  /** Write rate over the whole build so far. */
  bytesPerSecond: number;
  /** Estimated from the share of parameters converted; undefined before the first tensor. */
  secondsLeft: number | undefined;
}

/**
 * Counts tensors and bytes across every graph of one build and reports them. The estimate of the time left uses
 * parameters, not tensors, because one embedding table can weigh as much as a whole layer.
 */
export class BuildProgress {
  private readonly startedAt = performance.now();
  private stage = 'start';
  private tensorsDone = 0;
  private parametersDone = 0;
  private closedBytes = 0;
  private openBytes = 0;

  constructor(
    private tensorsTotal: number,
    private parametersTotal: number,
    private readonly onProgress?: (event: BuildProgressEvent) => void,
  ) {}

  /** Adds tensors a later stage (the vision tower) will convert. */
  expect(tensors: number, parameters: number): void {
    this.tensorsTotal += tensors;
    this.parametersTotal += parameters;
  }

  /** Starts a named stage. */
  begin(stage: string): void {
    this.stage = stage;
    this.emit();
  }

  /** Records one source tensor converted. */
  tensorDone(parameters: number): void {
    this.tensorsDone++;
    this.parametersDone += parameters;
    this.emit();
  }

  /** An external-data writer whose bytes count towards this build. */
  dataWriter(path: string): ExternalDataWriter {
    this.closedBytes += this.openBytes;
    this.openBytes = 0;
    return new ExternalDataWriter(path, (bytes) => {
      this.openBytes = bytes;
    });
  }

  /** The current snapshot. */
  snapshot(): BuildProgressEvent {
    const elapsedSeconds = (performance.now() - this.startedAt) / 1000;
    const bytesWritten = this.closedBytes + this.openBytes;
    const fraction = this.parametersTotal > 0 ? this.parametersDone / this.parametersTotal : 0;
    return {
      stage: this.stage,
      tensorsDone: this.tensorsDone,
      tensorsTotal: this.tensorsTotal,
      bytesWritten,
      elapsedSeconds,
      bytesPerSecond: elapsedSeconds > 0 ? bytesWritten / elapsedSeconds : 0,
      secondsLeft: fraction > 0 ? (elapsedSeconds * (1 - fraction)) / fraction : undefined,
    };
  }

  private emit(): void {
    this.onProgress?.(this.snapshot());
  }
}

/** One human-readable progress line: `decoder: tensors 12/30, 1.2 GiB written, 310 MiB/s, about 40s left`. */
export function formatProgress(event: BuildProgressEvent): string {
  const left = event.secondsLeft === undefined ? '' : `, about ${formatSeconds(event.secondsLeft)} left`;
  return (
    `${event.stage}: tensors ${event.tensorsDone}/${event.tensorsTotal}, ${formatBytes(event.bytesWritten)} written, ` +
    `${formatBytes(event.bytesPerSecond)}/s${left}`
  );
}

/**
 * Wraps a progress callback so it fires at most once per `intervalMs`. A stage's last event always passes, printed
 * before the next stage's first, so each tensor is reported under the stage that converted it (the embedding under
 * `embed:`, not `decoder:`).
 */
export function throttleProgress(
  report: (event: BuildProgressEvent) => void,
  intervalMs = 500,
): (event: BuildProgressEvent) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastStage = '';
  let held: BuildProgressEvent | undefined;
  return (event) => {
    const now = performance.now();
    if (event.stage !== lastStage && held !== undefined) report(held);
    if (event.stage !== lastStage || now - lastAt >= intervalMs || event.tensorsDone === event.tensorsTotal) {
      lastAt = now;
      lastStage = event.stage;
      held = undefined;
      report(event);
    } else {
      held = event;
    }
  };
}

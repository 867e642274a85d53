import type { Measurement } from './engine-measurement.ts';

/** Both engines measured on one weight format. */
export interface Comparison {
  label: string;
  ours: Measurement;
  llamaCpp: Measurement;
}

const megabyte = 1024 * 1024;

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!)))
    .join('  ');
}

/**
 * The result table: tokens/s of both engines with ours ÷ llama.cpp (≥ 1.00 means we are at least as fast), and
 * CPU time per token and peak RSS with the same ratio (there ≤ 1.00 means we spend no more).
 */
export function formatComparison(comparisons: readonly Comparison[]): string {
  const header = ['weights', 'metric', 'ours', 'llama.cpp', 'ours / llama.cpp'];
  const lines: string[][] = [];
  for (const { label, ours, llamaCpp } of comparisons) {
    const ratio = (mine: number, theirs: number) => (mine / theirs).toFixed(2);
    lines.push(
      [
        label,
        'decode tokens/s',
        ours.decodeTokensPerSecond.toFixed(1),
        llamaCpp.decodeTokensPerSecond.toFixed(1),
        ratio(ours.decodeTokensPerSecond, llamaCpp.decodeTokensPerSecond),
      ],
      [
        '',
        'prefill tokens/s',
        ours.prefillTokensPerSecond.toFixed(1),
        llamaCpp.prefillTokensPerSecond.toFixed(1),
        ratio(ours.prefillTokensPerSecond, llamaCpp.prefillTokensPerSecond),
      ],
      [
        '',
        'decode CPU ms/token',
        ours.decodeCpuMillisecondsPerToken.toFixed(1),
        llamaCpp.decodeCpuMillisecondsPerToken.toFixed(1),
        ratio(ours.decodeCpuMillisecondsPerToken, llamaCpp.decodeCpuMillisecondsPerToken),
      ],
      [
        '',
        'peak RSS MiB',
        (ours.peakRssBytes / megabyte).toFixed(0),
        (llamaCpp.peakRssBytes / megabyte).toFixed(0),
        ratio(ours.peakRssBytes, llamaCpp.peakRssBytes),
      ],
      [
        '',
        'load s',
        ours.loadSeconds.toFixed(1),
        llamaCpp.loadSeconds.toFixed(1),
        ratio(ours.loadSeconds, llamaCpp.loadSeconds),
      ],
    );
  }
  const widths = header.map((cell, column) => Math.max(cell.length, ...lines.map((line) => line[column]!.length)));
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [row(header, widths), rule, ...lines.map((line) => row(line, widths))].join('\n');
}

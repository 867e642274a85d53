import { formatBytes, formatSeconds } from '../format-quantity.ts';
import type { HubDownloadProgress } from './hub-download.ts';

/**
 * One progress line of a download:
 * `hf:IDEA-CCNL/Ziya-LLaMA-13B-v1@1a2b3c4 pytorch_model-00001-of-00003.bin 3.2 GiB/9.3 GiB, all 12.0 GiB/24.2 GiB, 41.5 MiB/s, about 5m10s left`.
 */
export function formatDownloadProgress(event: HubDownloadProgress): string {
  const repo = event.repo.replace(/@([0-9a-f]{7})[0-9a-f]{33}$/, '@$1');
  const left = event.secondsLeft === undefined ? '' : `, about ${formatSeconds(event.secondsLeft)} left`;
  const checking = event.phase === 'check' ? 'checking ' : '';
  return (
    `${repo} ${checking}${event.file} ${formatBytes(event.fileBytes)}/${formatBytes(event.fileSize)}, ` +
    `all ${formatBytes(event.bytesDone)}/${formatBytes(event.bytesTotal)}, ${formatBytes(event.bytesPerSecond)}/s${left}`
  );
}

/** Wraps a download progress callback so it prints at most once per `intervalMs`, and always a file's last event. */
export function throttleDownloadProgress(
  report: (event: HubDownloadProgress) => void,
  intervalMs = 1000,
): (event: HubDownloadProgress) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastFinished = '';
  return (event) => {
    const now = performance.now();
    const finished = event.fileBytes === event.fileSize ? `${event.repo} ${event.phase} ${event.file}` : '';
    if ((now - lastAt >= intervalMs || finished !== '') && (finished === '' || finished !== lastFinished)) {
      lastAt = now;
      lastFinished = finished;
      report(event);
    }
  };
}

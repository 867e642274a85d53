// One build in its own process, so its peak RSS is its own: `node --import tsx bench/lib/delta-build-child.ts '<json>'`.
import { buildModel } from '../../workers/model/build-model.ts';

const request = JSON.parse(process.argv[2] ?? '{}') as {
  from: string;
  deltaBase?: string;
  out: string;
  dtype: 'fp16' | 'fp32';
};
const baseline = process.resourceUsage().maxRSS * 1024;
const result = buildModel({
  from: request.from,
  ...(request.deltaBase !== undefined ? { deltaBase: request.deltaBase } : {}),
  out: request.out,
  dtype: request.dtype,
});
process.stdout.write(
  `${JSON.stringify({ peakRssBytes: process.resourceUsage().maxRSS * 1024, startRssBytes: baseline, seconds: result.seconds })}\n`,
);

// Child-process entry: measures one engine on one model, so each engine's peak RSS is its own.
import type { Measurement, MeasurementRequest } from './engine-measurement.ts';
import { measureLlamaCpp } from './measure-llama-cpp.ts';
import { measureOnnxRuntime } from './measure-onnx-runtime.ts';

const request = JSON.parse(process.argv[2] ?? '{}') as MeasurementRequest;
const measured = request.engine === 'ours' ? await measureOnnxRuntime(request) : await measureLlamaCpp(request);
const measurement: Measurement = { ...measured, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
process.stdout.write(`\n${JSON.stringify(measurement)}\n`);
process.exit(0);

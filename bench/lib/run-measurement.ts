import { fileURLToPath } from 'node:url';
import type { Measurement, MeasurementRequest } from './engine-measurement.ts';
import { runJsonChild } from './run-child.ts';

const entry = fileURLToPath(new URL('./measure-engine.ts', import.meta.url));

/** Runs one measurement in a fresh Node process and returns what it reported. */
export function runMeasurement(request: MeasurementRequest): Promise<Measurement> {
  return runJsonChild<Measurement>(entry, request, `${request.engine} on ${request.modelPath}`);
}

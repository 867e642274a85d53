// Child-process entry of `bench:serve`: one engine on one model, every load level, one JSON line on stdout.
import { serveLlamaCpp } from './serve-llama-cpp.ts';
import { serveOurs } from './serve-ours.ts';
import type { ServeRequest } from './serve-trace.ts';

const request = JSON.parse(process.argv[2] ?? '{}') as ServeRequest;
const report = request.engine === 'ours' ? await serveOurs(request) : await serveLlamaCpp(request);
process.stdout.write(`\n${JSON.stringify(report)}\n`);
process.exit(0);

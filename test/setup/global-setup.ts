import type { TestProject } from 'vitest/node';

/** Work shared by all test files (building the tiny test model, starting Redis) is registered here. */
export default async function setup(_project: TestProject): Promise<void | (() => Promise<void>)> {}

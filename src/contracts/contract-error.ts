import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';

/** Job data failed its contract: retrying cannot help, so it is an UnrecoverableError. */
export class ContractViolationError extends UnrecoverableError {
  override readonly name = 'ContractViolationError';
  constructor(
    readonly contract: string,
    readonly issues: string,
  ) {
    super(`${contract} does not match its contract: ${issues}`);
  }
}

/** Parses `data` with `schema`, throwing {@link ContractViolationError} naming the contract. */
export function parseContract<Schema extends z.ZodType>(
  contract: string,
  schema: Schema,
  data: unknown,
): z.output<Schema> {
  const result = schema.safeParse(data);
  if (!result.success) {
    throw new ContractViolationError(
      contract,
      result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
    );
  }
  return result.data;
}

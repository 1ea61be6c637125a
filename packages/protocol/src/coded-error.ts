/**
 * The one shape of every localpush error: a stable string `code` (listed in docs/errors.md and
 * docs/client-errors.md), a message that says what happened and what to do, and an optional `cause`.
 * Each package's error classes extend it with their own code union (and, where they need them, fields of
 * their own), so that `err instanceof CodedError` and `err.code` work the same everywhere.
 */
export class CodedError<Code extends string = string> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * One close stack for the server: each step of starting pushes how to undo it, and closing runs them in
 * reverse order of start — on a graceful close and on a start that failed half-way alike, so cleanup is
 * written once.
 */
export class CloseStack {
  private readonly steps: { name: string; close: () => unknown }[] = [];
  private closing: Promise<void> | undefined;

  /** Adds the undoing of a step that just succeeded. */
  push(name: string, close: () => unknown): void {
    if (this.closing !== undefined) throw new Error(`cannot add "${name}" to a close stack that is closing`);
    this.steps.push({ name, close });
  }

  /**
   * Runs every step, newest first. Each runs even when an earlier one fails, so a failure never leaves
   * ports open or the store unflushed; the first failure is rethrown at the end. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const failures: unknown[] = [];
      for (const step of [...this.steps].reverse()) {
        try {
          await step.close();
        } catch (error) {
          failures.push(error);
        }
      }
      if (failures.length > 0) throw failures[0];
    })();
    return this.closing;
  }

  /**
   * Runs `start` and, when it throws, closes what was started so far and rethrows the start's error
   * (a cleanup failure then is secondary and dropped).
   */
  async unwindOnFailure<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      await this.close().catch(() => {});
      throw error;
    }
  }
}

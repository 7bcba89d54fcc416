/** An expected CLI failure: its message is for the user and names the fix. */
export class ExitError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'ExitError';
  }
}

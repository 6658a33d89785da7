/** Base class of every error metaquant raises on purpose; the CLI prints `message` alone. */
export class MetaquantError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad user input: an unknown flag value, an invalid config field. Exit code 2. */
export class UsageError extends MetaquantError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A file that cannot be read as what it claims to be (corrupt, truncated, wrong shape). Exit code 2. */
export class InputFileError extends MetaquantError {
  readonly file: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`, 2);
    this.file = file;
  }
}

/** Training produced NaN or Inf. */
export class NonFiniteError extends MetaquantError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Training stopped by SIGINT/SIGTERM after writing a checkpoint. Exit code 128 + the signal number (130, 143). */
export class InterruptedError extends MetaquantError {
  readonly signal: string;
  constructor(signal: 'SIGINT' | 'SIGTERM', message: string) {
    super(message, signal === 'SIGINT' ? 130 : 143);
    this.signal = signal;
  }
}

/** Builds a UsageError listing the valid choices for a named option. */
export function unknownChoice(option: string, value: string, valid: readonly string[]): UsageError {
  return new UsageError(`unknown ${option} '${value}'; expected one of: ${valid.join(', ')}`);
}

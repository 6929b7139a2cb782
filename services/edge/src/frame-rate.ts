/**
 * Counts a socket's frames per second of the clock; says when a second holds more than `limit`.
 * A fixed window: cheap, and a burst at a second's edge gets at most twice the limit through.
 */
export class FrameRate {
  #second = 0;
  #frames = 0;

  constructor(
    private readonly limit: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one frame; true once the current second has more than the limit. */
  over(): boolean {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#frames = 0;
    }
    return ++this.#frames > this.limit;
  }
}

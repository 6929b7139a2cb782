import { describe, expect, it } from "vitest";
import { FrameRate } from "./frame-rate.js";

describe("FrameRate", () => {
  it("rate - the limit's worth of frames per second pass, the next one is over, and a new second starts afresh", () => {
    let now = 5_000;
    const rate = new FrameRate(3, () => now);
    expect([rate.over(), rate.over(), rate.over()]).toEqual([false, false, false]);
    expect(rate.over()).toBe(true);
    now = 5_999;
    expect(rate.over()).toBe(true);
    now = 6_000;
    expect(rate.over()).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { SluiceError } from "@sluice/protocol";
import { INDICATOR_TEXT, indicatorAfter } from "./connection.js";

describe("indicatorAfter", () => {
  it("indicator - follows the SDK's connection events", () => {
    const lost = new SluiceError("SERVICE_UNAVAILABLE", "The connection closed (1006)");
    expect(indicatorAfter({ type: "reconnecting", error: lost })).toBe("reconnecting");
    expect(indicatorAfter({ type: "resumed" })).toBe("resumed");
    expect(indicatorAfter({ type: "closed", error: lost })).toBe("disconnected");
    expect(INDICATOR_TEXT.resumed).toBe("resumed");
  });
});

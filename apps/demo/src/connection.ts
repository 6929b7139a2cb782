import type { ConnectionEvent } from "@sluice/client";

/**
 * What the connection indicator shows. "resumed" stays until the next drop, so a viewer sees that
 * the stream went on after one.
 */
export type Indicator = "offline" | "connecting" | "connected" | "reconnecting" | "resumed" | "disconnected";

export function indicatorAfter(event: ConnectionEvent): Indicator {
  switch (event.type) {
    case "reconnecting":
      return "reconnecting";
    case "resumed":
      return "resumed";
    case "closed":
      return "disconnected";
    default: {
      const unknown: never = event;
      throw new Error(`unknown connection event ${JSON.stringify(unknown)}`);
    }
  }
}

export const INDICATOR_TEXT: Readonly<Record<Indicator, string>> = {
  offline: "not connected",
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  resumed: "resumed",
  disconnected: "disconnected",
};

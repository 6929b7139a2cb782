import { z } from "zod";

/**
 * What the page is given by the server that serves it (`/demo.json`): where the edge is, a token
 * minted for the demo tenant, and the datasets it may run with their parameters. Never SQL.
 */
const settingsSchema = z.strictObject({
  url: z.string().regex(/^wss?:\/\//, "must be a ws:// or wss:// URL"),
  token: z.string().min(1),
  tenant: z.string(),
  datasets: z.array(
    z.strictObject({
      name: z.string().min(1),
      params: z.array(z.strictObject({ name: z.string().min(1), type: z.string(), required: z.boolean() })),
    }),
  ),
});

export type DemoSettings = z.infer<typeof settingsSchema>;
export type DatasetInfo = DemoSettings["datasets"][number];

/** Where the page reads its settings, relative to the page. */
export const SETTINGS_PATH = "demo.json";

/** Fetches and validates the settings; throws an Error saying what is wrong. */
export async function fetchSettings(fetchImpl: typeof fetch = fetch): Promise<DemoSettings> {
  const response = await fetchImpl(SETTINGS_PATH, { cache: "no-store" });
  if (!response.ok) throw new Error(`${SETTINGS_PATH}: HTTP ${response.status}`);
  const parsed = settingsSchema.safeParse(await response.json());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${SETTINGS_PATH}: ${issue?.path.join(".") ?? ""} ${issue?.message ?? "is not valid"}`);
  }
  return parsed.data;
}

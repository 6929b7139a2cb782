import { createRoot } from "react-dom/client";
import { App } from "./app.js";
import { fetchSettings } from "./settings.js";
import "./demo.css";

const root = document.getElementById("root");
if (root === null) throw new Error("the page has no #root element");

fetchSettings().then(
  (settings) => createRoot(root).render(<App settings={settings} />),
  (error: unknown) => {
    root.textContent = `The demo cannot start: ${error instanceof Error ? error.message : String(error)}`;
  },
);

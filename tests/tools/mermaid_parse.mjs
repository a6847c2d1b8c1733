// Parse Mermaid diagrams with the real `mermaid` package (the one GitHub renders with).
// stdin: a JSON array of diagram texts. stdout: a JSON array of {type} or {error}.
// `@mermaid-js/parser` alone has no xychart grammar (mermaid keeps it in its jison
// parsers), so mermaid itself runs here, on a jsdom window for DOMPurify.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const name of ["Element", "HTMLElement", "Node", "DOMParser"]) {
  globalThis[name] = dom.window[name];
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ type: parsed.diagramType });
  } catch (err) {
    results.push({ error: String(err && err.message ? err.message : err).split("\n").slice(0, 4).join(" ") });
  }
}
process.stdout.write(JSON.stringify(results));

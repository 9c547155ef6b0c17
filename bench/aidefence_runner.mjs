// Reads JSON lines {id,text} on stdin, writes {id, threat, ms} using @claude-flow/aidefence.
// Usage: node aidefence_runner.mjs <install dir with node_modules/@claude-flow/aidefence>
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";
const dir = process.argv[2] ?? process.cwd();
const entry = path.join(dir, "node_modules/@claude-flow/aidefence/dist/index.js");
const mod = await import(pathToFileURL(entry).href);
const api = mod.default ?? mod;
// Public API of @claude-flow/aidefence 3.x: isSafe(input: string): boolean (synchronous).
if (typeof api.isSafe !== "function") throw new Error("no isSafe export: " + Object.keys(api));
const detect = (t) => !api.isSafe(t);
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { id, text } = JSON.parse(line);
  const t0 = performance.now();
  const threat = detect(text);
  process.stdout.write(JSON.stringify({ id, threat, ms: performance.now() - t0 }) + "\n");
}

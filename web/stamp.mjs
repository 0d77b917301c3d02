// After `vite build`: record which sources the committed assets were built from, so a test can
// tell when web/ changed without `make web` (the Python side needs no Node to check).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

const here = import.meta.dirname;
const INPUTS = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src"];

function files(path) {
  return statSync(path).isDirectory() ? readdirSync(path).flatMap((n) => files(join(path, n))) : [path];
}

const all = INPUTS.flatMap((p) => files(join(here, p)))
  .map((p) => relative(here, p).split(sep).join("/"))
  .sort();
const h = createHash("sha256");
for (const p of all) {
  h.update(p + "\0");
  h.update(readFileSync(join(here, p)));
  h.update("\0");
}
const out = join(here, "..", "src", "tessera", "server", "static", "build.json");
writeFileSync(out, JSON.stringify({ sources_sha256: h.digest("hex"), files: all.length }, null, 1) + "\n");
console.log(`stamped ${all.length} source files into ${relative(process.cwd(), out)}`);

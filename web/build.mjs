// Builds the composer page into dist/: the bundle of src/composer.ts and its npm
// dependencies (esbuild), plus the page and its style sheet as they are. The output is
// deterministic (no timestamps, no absolute paths), so scripts/test.sh can rebuild it and
// fail when the committed dist/ differs. The server embeds dist/ (src/web.rs).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
mkdirSync(dist, { recursive: true });
await build({
  absWorkingDir: here,
  entryPoints: ["src/composer.ts"],
  outfile: "dist/composer.js",
  bundle: true,
  format: "iife",
  // bigint (uint64 fields) needs ES2020.
  target: "es2020",
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
});
for (const file of ["index.html", "composer.css"]) {
  copyFileSync(join(here, "src", file), join(dist, file));
}

#!/usr/bin/env node
// Fails when src/client.ts does not call every operation of openapi/bff.json.
//
// An operation is a (method, path) under `paths` (the `webhooks` section is what the BFF
// sends, not what a client calls: ignored). A call is `<identifier>.<METHOD>("<path>"`
// in src/client.ts, outside comments, e.g. client.GET("/v1/packages/{package_id}", ...).
// Calls to operations the document does not have are reported too (tsc rejects them
// already; this keeps the message in one place).
//
// usage: node check-coverage.mjs [openapi.json] [client.ts]
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const specPath = process.argv[2] ?? here("../../openapi/bff.json");
const clientPath = process.argv[3] ?? here("src/client.ts");

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const spec = JSON.parse(readFileSync(specPath, "utf8"));
const expected = new Set();
for (const [path, item] of Object.entries(spec.paths ?? {})) {
  for (const method of METHODS) {
    if (item && typeof item === "object" && item[method]) expected.add(`${method.toUpperCase()} ${path}`);
  }
}
if (expected.size === 0) {
  console.error(`client-check: no operations found in ${specPath}`);
  process.exit(1);
}

const source = readFileSync(clientPath, "utf8")
  .replace(/\/\*[\s\S]*?\*\//g, "") // block comments
  .replace(/^\s*\/\/.*$/gm, ""); // whole-line // comments
const callRe = new RegExp(
  String.raw`\b[A-Za-z_$][\w$]*\s*\.\s*(${METHODS.map((m) => m.toUpperCase()).join("|")})\s*\(\s*(["'\x60])([^"'\x60]+)\2`,
  "g",
);
const called = new Set();
for (const m of source.matchAll(callRe)) called.add(`${m[1]} ${m[3]}`);

const missing = [...expected].filter((op) => !called.has(op));
const unknown = [...called].filter((op) => !expected.has(op));
const rel = (p) => relative(process.cwd(), p) || p;

if (missing.length || unknown.length) {
  if (missing.length) {
    console.error(`client-check: ${missing.length} operation(s) of ${rel(specPath)} not called in ${rel(clientPath)}:`);
    for (const op of missing) console.error(`  missing  ${op}`);
  }
  if (unknown.length) {
    console.error(`client-check: ${unknown.length} call(s) in ${rel(clientPath)} to operations not in ${rel(specPath)}:`);
    for (const op of unknown) console.error(`  unknown  ${op}`);
  }
  process.exit(1);
}
console.log(`client-check: all ${expected.size} operations of ${rel(specPath)} are called in ${rel(clientPath)}`);

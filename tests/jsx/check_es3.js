#!/usr/bin/env node
// Static checks for ExtendScript files: ES3 syntax (acorn, reserved words rejected as property
// names), pure ASCII without BOM, no preprocessor lines, no ES5+ library calls that parse fine
// but fail in ExtendScript at run time.
//
// usage: node check_es3.js FILE...   -> prints one JSON object {file: [problems]}; exit 1 if any
"use strict";
const fs = require("fs");
const acorn = require("acorn");

// Library calls ExtendScript (ES3) does not have: methods `x.name(...)`, statics such as
// `Object.keys(...)`, and globals such as `JSON`. (Array indexOf is caught by running the script
// in the mock, where it is deleted: statically it looks like String indexOf, which is ES3.)
const ES5_METHODS = ["forEach", "map", "filter", "reduce", "reduceRight", "some", "every",
  "find", "findIndex", "includes", "fill", "trim", "trimStart", "trimEnd", "startsWith",
  "endsWith", "repeat", "padStart", "padEnd", "bind", "toISOString"];
const ES5_STATICS = { Object: ["keys", "create", "defineProperty", "defineProperties", "assign", "freeze",
  "entries", "values", "getPrototypeOf"], Array: ["isArray", "from", "of"], Date: ["now"] };
const ES5_GLOBALS = ["JSON", "Map", "Set", "WeakMap", "Promise", "Symbol", "Proxy", "Reflect"];

function checkSource(src) {
  const problems = [];
  const bytes = Buffer.from(src, "utf8");
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) problems.push("starts with a BOM");
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)) {
      const line = src.slice(0, i).split("\n").length;
      problems.push(`non-ASCII or control character U+${c.toString(16).padStart(4, "0")} on line ${line}`);
      break;
    }
  }
  src.split("\n").forEach((text, i) => {
    if (/^\s*#/.test(text)) problems.push(`preprocessor line ${i + 1}: ${text.trim().slice(0, 40)}`);
  });
  let ast = null;
  try {
    ast = acorn.parse(src, { ecmaVersion: 3, allowReserved: "never", allowReturnOutsideFunction: false,
      sourceType: "script", locations: true });
  } catch (e) {
    problems.push(`ES3 syntax: ${e.message}`);
  }
  if (ast) walk(ast, (node) => {
    const callee = node.type === "CallExpression" ? node.callee : null;
    if (callee && callee.type === "MemberExpression" && !callee.computed) {
      const name = callee.property.name, owner = callee.object.type === "Identifier" ? callee.object.name : null;
      if (ES5_METHODS.includes(name) || (owner in ES5_STATICS && ES5_STATICS[owner].includes(name))) {
        problems.push(`line ${node.loc.start.line}: ${owner ? owner : ""}.${name}() is not ES3`);
      }
    }
    if (node.type === "Identifier" && ES5_GLOBALS.includes(node.name)) {
      problems.push(`line ${node.loc.start.line}: ${node.name} does not exist in ExtendScript`);
    }
  });
  return problems;
}

function walk(node, visit) {
  if (!node || typeof node.type !== "string") return;
  visit(node);
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) value.forEach((child) => walk(child, visit));
    else if (value && typeof value.type === "string") walk(value, visit);
  }
}

if (require.main === module) {
  const report = {};
  let bad = false;
  for (const file of process.argv.slice(2)) {
    report[file] = checkSource(fs.readFileSync(file, "utf8"));
    if (report[file].length) bad = true;
  }
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(bad ? 1 : 0);
}

module.exports = { checkSource };

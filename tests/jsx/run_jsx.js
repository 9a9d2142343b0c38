#!/usr/bin/env node
// Run .jsx files against the After Effects mock and print what they built as JSON.
//
// usage: node run_jsx.js JOB.json
// JOB = {"setup": {...mock setup...}, "scripts": [{"file": "x.jsx", "asPanel": false}],
//        "actions": [{"set": "people", "text": "1,2"}, {"select": "parts", "indices": [1, 2]},
//                    {"click": "run"}]}
// Actions drive the ScriptUI panel a script built (controls found by properties.name).
// Output: {"results": [...], "error": null | {"message", "line"}, "ui": {name: text}, "dump": {...}}
"use strict";
const fs = require("fs");
const { createHost } = require("./mock_ae");

function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const host = createHost(job.setup || {});
  const out = { results: [], error: null, ui: {} };
  try {
    for (const s of job.scripts || []) {
      const r = host.run(s.file, !!s.asPanel);
      out.results.push(r === undefined ? null : typeof r === "object" && r !== null ? String(r) : r);
    }
    const root = host.ctx.__panel || host.windows()[host.windows().length - 1];
    for (const a of job.actions || []) {
      const name = a.set || a.select || a.click || a.check;
      const control = root && root.findElement(name);
      if (!control) throw new Error(`no control named ${name}`);
      if (a.set !== undefined) { control.text = a.text; control.notify("onChange"); }
      if (a.check !== undefined) { control.value = !!a.value; control.notify("onClick"); }
      if (a.select !== undefined) { control.selection = a.indices !== undefined ? a.indices : a.index; control.notify("onChange"); }
      if (a.click !== undefined) control.notify("onClick");
    }
    if (root) collect(root, out.ui);
  } catch (e) {
    out.error = { message: String(e && e.message !== undefined ? e.message : e), line: e && e.line, stack: String(e && e.stack) };
  }
  // Globals a test wants to see (e.g. one an injected name would set if it could run code).
  out.probe = {};
  for (const name of job.probe || []) out.probe[name] = typeof host.ctx[name] !== "undefined";
  out.dump = host.dump();
  process.stdout.write(JSON.stringify(out));
}

function collect(control, ui) {
  for (const c of control._children) {
    if (c.properties.name) {
      ui[c.properties.name] = c.properties.multiselect || c.type === "dropdownlist"
        ? { text: c.text, items: c._items.map((i) => i.text), selection: selected(c) } : c.text;
    }
    collect(c, ui);
  }
}

function selected(c) {
  const s = c.selection;
  if (s === null) return null;
  return typeof s.length === "number" ? Array.from(s).map((i) => i.index) : s.index;
}

main();

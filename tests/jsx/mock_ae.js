// A recording mock of the After Effects scripting object model (and the parts of ExtendScript
// and ScriptUI that m2fp-roto's scripts use), for running .jsx files in Node without AE.
//
// Scripts run in a vm context whose ES5+ library surface is deleted, so an ES3 slip (forEach,
// JSON, bind, trim...) fails as it would in ExtendScript. The mock enforces documented AE
// behaviour that real scripts trip over:
//   - adding a mask invalidates references to the group's existing masks and their properties
//     ("Object is invalid" on any later use);
//   - setValue() on a property with keyframes throws;
//   - Shape values are deep-copied and checked: vertex/tangent counts must match, every
//     coordinate must be a finite number;
//   - setValuesAtTimes() needs equal-length arrays; comp size/fps/duration ranges are checked;
//   - endUndoGroup() without a matching begin throws; conformFrameRate on a still throws.
// Everything the script builds is recorded and returned by dump(); API calls are counted.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const childProcess = require("child_process");

const ENUMS = {
  MaskMode: { NONE: 6812, ADD: 6813, SUBTRACT: 6814, INTERSECT: 6815, LIGHTEN: 6816, DARKEN: 6817, DIFFERENCE: 6818 },
  KeyframeInterpolationType: { LINEAR: 6612, BEZIER: 6613, HOLD: 6614 },
  PropertyValueType: { NO_VALUE: 6412, ThreeD_SPATIAL: 6413, ThreeD: 6414, TwoD_SPATIAL: 6415, TwoD: 6416,
    OneD: 6417, COLOR: 6418, CUSTOM_VALUE: 6419, MARKER: 6420, LAYER_INDEX: 6421, MASK_INDEX: 6422, SHAPE: 6423,
    TEXT_DOCUMENT: 6424 },
  MaskMotionBlur: { SAME_AS_LAYER: 7012, ON: 7013, OFF: 7014 },
  MaskFeatherFalloff: { FFO_SMOOTH: 7212, FFO_LINEAR: 7213 },
  PREFType: { PREF_Type_MACHINE_SPECIFIC: 0, PREF_Type_MACHINE_INDEPENDENT: 1 },
};

// ES5+ library surface that ExtendScript lacks, removed inside the sandbox only.
const PRELUDE = `(function (g) {
  var names = ["JSON", "Map", "Set", "WeakMap", "WeakSet", "Promise", "Symbol", "Proxy", "Reflect"], i;
  for (i = 0; i < names.length; i++) { delete g[names[i]]; }
  var strip = [[Object, ["keys", "create", "defineProperty", "defineProperties", "assign", "freeze", "entries", "values", "getPrototypeOf"]],
    [Array, ["isArray", "from", "of"]], [Date, ["now"]],
    [Array.prototype, ["forEach", "map", "filter", "reduce", "reduceRight", "some", "every", "indexOf", "lastIndexOf",
      "find", "findIndex", "includes", "fill", "entries", "keys", "values", "flat", "flatMap"]],
    [String.prototype, ["trim", "trimStart", "trimEnd", "trimLeft", "trimRight", "startsWith", "endsWith", "includes",
      "repeat", "padStart", "padEnd", "codePointAt", "normalize"]],
    [Function.prototype, ["bind"]], [Date.prototype, ["toISOString", "toJSON"]]], j;
  for (i = 0; i < strip.length; i++) { for (j = 0; j < strip[i][1].length; j++) { delete strip[i][0][strip[i][1][j]]; } }
})(this);`;

function createHost(setup) {
  setup = setup || {};
  const ctx = vm.createContext({});
  vm.runInContext(PRELUDE, ctx);
  const SError = vm.runInContext("Error", ctx);
  const SArray = vm.runInContext("Array", ctx);
  const calls = {};
  const alerts = [];
  const log = [];
  const env = {};
  const systemCalls = [];
  const isWin = setup.os === "Windows";
  const defaultInterp = ENUMS.KeyframeInterpolationType[setup.defaultInterpolation || "LINEAR"];

  function fail(message) { return new SError(message); }
  function count(op) { calls[op] = (calls[op] || 0) + 1; }
  function sArr(list) { const a = new SArray(); for (const v of list) a.push(v); return a; }
  function isNum(v) { return typeof v === "number" && Number.isFinite(v); }
  function nums(v, n, what) {
    if (!v || typeof v.length !== "number" || v.length !== n) throw fail(`${what}: expected an array of ${n} numbers`);
    const out = [];
    for (let i = 0; i < n; i++) { if (!isNum(v[i])) throw fail(`${what}: ${v[i]} is not a finite number`); out.push(v[i]); }
    return out;
  }

  // ---- ExtendScript file system -------------------------------------------------------
  class File {
    constructor(p) { this._path = path.resolve(String(p instanceof File || p instanceof Folder ? p.fsName : p)); this.encoding = "BINARY"; this._fd = null; }
    get fsName() { return this._path; }
    get fullName() { return this._path; }
    get absoluteURI() { return encodeURI(this._path); }
    get name() { return encodeURI(path.basename(this._path)); }  // ExtendScript's File.name is URI-encoded
    get displayName() { return path.basename(this._path); }
    get path() { return encodeURI(path.dirname(this._path)); }
    get parent() { return new Folder(path.dirname(this._path)); }
    get exists() { return fs.existsSync(this._path) && fs.statSync(this._path).isFile(); }
    get modified() { return this.exists ? new (vm.runInContext("Date", ctx))(fs.statSync(this._path).mtimeMs) : null; }
    get length() { return this.exists ? fs.statSync(this._path).size : -1; }
    open(mode) {
      this._mode = mode;
      try {
        if (mode === "r" || mode === "e") { this._buf = fs.readFileSync(this._path, this.encoding === "UTF-8" ? "utf8" : "latin1"); this._pos = 0; }
        else if (mode === "w") { fs.writeFileSync(this._path, ""); this._buf = ""; }
        else if (mode === "a") { this._buf = ""; }
        return true;
      } catch (e) { return false; }
    }
    read() { const s = this._buf.slice(this._pos); this._pos = this._buf.length; return s; }
    write() { for (const s of arguments) fs.appendFileSync(this._path, String(s), this.encoding === "UTF-8" ? "utf8" : "latin1"); return true; }
    writeln(s) { return this.write(String(s) + "\n"); }
    close() { this._buf = null; return true; }
    remove() { try { fs.unlinkSync(this._path); return true; } catch (e) { return false; } }
    copy(target) { try { fs.copyFileSync(this._path, new File(target).fsName); return true; } catch (e) { return false; } }
    toString() { return this.fsName; }
    static openDialog() { count("File.openDialog"); return setup.openDialog ? new File(setup.openDialog) : null; }
    static saveDialog() { return null; }
    static decode(s) { return decodeURI(s); }
    static encode(s) { return encodeURI(s); }
  }
  File.fs = isWin ? "Windows" : "Macintosh";
  class Folder {
    constructor(p) { this._path = path.resolve(String(p instanceof Folder ? p.fsName : p)); }
    get fsName() { return this._path; }
    get fullName() { return this._path; }
    get name() { return encodeURI(path.basename(this._path)); }
    get exists() { return fs.existsSync(this._path) && fs.statSync(this._path).isDirectory(); }
    get parent() { return new Folder(path.dirname(this._path)); }
    create() { fs.mkdirSync(this._path, { recursive: true }); return true; }
    getFiles() { return sArr(fs.readdirSync(this._path).map((n) => new File(path.join(this._path, n)))); }
    toString() { return this.fsName; }
  }
  Object.defineProperty(Folder, "temp", { get: () => new Folder(setup.tempDir || require("os").tmpdir()) });
  Object.defineProperty(Folder, "userData", { get: () => new Folder(setup.tempDir || require("os").tmpdir()) });

  // ---- properties ----------------------------------------------------------------------
  class Shape {
    constructor() { this.vertices = sArr([]); this.inTangents = sArr([]); this.outTangents = sArr([]); this.closed = false; }
  }
  function copyShape(v, what) {
    if (!(v instanceof Shape)) throw fail(`${what}: value is not a Shape`);
    const n = v.vertices.length;
    if (v.inTangents.length !== n || v.outTangents.length !== n) {
      throw fail(`${what}: Shape has ${n} vertices but ${v.inTangents.length} in and ${v.outTangents.length} out tangents`);
    }
    const pts = (list, label) => Array.from({ length: n }, (_, i) => nums(list[i], 2, `${what} ${label}[${i}]`));
    return { vertices: pts(v.vertices, "vertices"), inTangents: pts(v.inTangents, "inTangents"),
      outTangents: pts(v.outTangents, "outTangents"), closed: v.closed === true };
  }

  class Property {
    constructor(owner, matchName, name, type, value, range) {
      this._owner = owner; this.matchName = matchName; this.name = name; this.propertyValueType = type;
      this._value = value; this._keys = []; this._range = range;
    }
    _check() { this._owner._check(); }
    _copy(v) {
      const what = `${this._owner._label()} ${this.name}`;
      const T = ENUMS.PropertyValueType;
      if (this.propertyValueType === T.SHAPE) return copyShape(v, what);
      if (this.propertyValueType === T.OneD) {
        if (!isNum(v)) throw fail(`${what}: ${v} is not a finite number`);
        if (this._range && (v < this._range[0] || v > this._range[1])) throw fail(`${what}: ${v} is out of range`);
        return v;
      }
      return nums(v, 2, what);
    }
    get numKeys() { this._check(); return this._keys.length; }
    get isTimeVarying() { this._check(); return this._keys.length > 0; }
    get value() { this._check(); return this._value; }
    setValue(v) {
      this._check(); count("setValue");
      if (this._keys.length) throw fail("Can not call setValue() on a property with keyframes. Use setValueAtTime instead.");
      this._value = this._copy(v);
    }
    _setKey(t, v) {
      if (!isNum(t)) throw fail(`${this.name}: key time ${t} is not a finite number`);
      const key = { time: t, value: this._copy(v), inInterp: defaultInterp, outInterp: defaultInterp };
      const i = this._keys.findIndex((k) => Math.abs(k.time - t) < 1e-9);
      if (i >= 0) this._keys[i] = key; else this._keys.push(key);
      this._keys.sort((a, b) => a.time - b.time);
    }
    setValueAtTime(t, v) { this._check(); count("setValueAtTime"); this._setKey(t, v); }
    setValuesAtTimes(times, values) {
      this._check(); count("setValuesAtTimes");
      if (!times || !values || times.length !== values.length) throw fail("setValuesAtTimes: times and values must have the same length");
      for (let i = 0; i < times.length; i++) this._setKey(times[i], values[i]);
    }
    _key(i) {
      if (!(i >= 1 && i <= this._keys.length && i === Math.floor(i))) throw fail(`${this.name}: key index ${i} out of range 1..${this._keys.length}`);
      return this._keys[i - 1];
    }
    keyTime(i) { this._check(); return this._key(i).time; }
    keyValue(i) { this._check(); return this._key(i).value; }
    keyInInterpolationType(i) { this._check(); count("keyInInterpolationType"); return this._key(i).inInterp; }
    keyOutInterpolationType(i) { this._check(); count("keyOutInterpolationType"); return this._key(i).outInterp; }
    setInterpolationTypeAtKey(i, inType, outType) {
      this._check(); count("setInterpolationTypeAtKey");
      const valid = Object.values(ENUMS.KeyframeInterpolationType);
      if (!valid.includes(inType) || (outType !== undefined && !valid.includes(outType))) throw fail("bad interpolation type");
      const k = this._key(i); k.inInterp = inType; k.outInterp = outType === undefined ? inType : outType;
    }
    // Value at comp time t: hold keys step, everything else is linear (the mock's own default).
    valueAtTime(t) {
      this._check();
      const keys = this._keys;
      if (!keys.length) return this._value;
      if (t <= keys[0].time) return keys[0].value;
      for (let i = 0; i < keys.length - 1; i++) {
        const a = keys[i], b = keys[i + 1];
        if (t < b.time) return a.outInterp === ENUMS.KeyframeInterpolationType.HOLD ? a.value : lerp(a.value, b.value, (t - a.time) / (b.time - a.time));
      }
      return keys[keys.length - 1].value;
    }
    _dump() {
      const H = ENUMS.KeyframeInterpolationType, name = (v) => Object.keys(H).find((k) => H[k] === v);
      return { value: this._value, keys: this._keys.map((k) => ({ time: k.time, value: k.value, in: name(k.inInterp), out: name(k.outInterp) })) };
    }
  }
  function lerp(a, b, t) {
    if (typeof a === "number") return a + (b - a) * t;
    if (Array.isArray(a)) return a.map((x, i) => lerp(x, b[i], t));
    const out = {}; for (const k of Object.keys(a)) out[k] = typeof a[k] === "boolean" ? a[k] : lerp(a[k], b[k], t); return out;
  }

  const MASK_PROPS = [
    ["ADBE Mask Shape", "Mask Path", ["maskShape", "maskPath"], ENUMS.PropertyValueType.SHAPE, null],
    ["ADBE Mask Feather", "Mask Feather", ["maskFeather"], ENUMS.PropertyValueType.TwoD, [0, 0]],
    ["ADBE Mask Opacity", "Mask Opacity", ["maskOpacity"], ENUMS.PropertyValueType.OneD, 100, [0, 100]],
    ["ADBE Mask Offset", "Mask Expansion", ["maskOffset", "maskExpansion"], ENUMS.PropertyValueType.OneD, 0],
  ];
  class MaskPropertyGroup {
    constructor(parade) {
      this._parade = parade; this._gen = parade._gen; this._name = `Mask ${parade._masks.length + 1}`;
      this._mode = ENUMS.MaskMode.ADD; this._color = [1, 1, 0]; this.inverted = false; this.rotoBezier = false; this.locked = false;
      this._props = MASK_PROPS.map(([m, n, , t, v, r]) => new Property(this, m, n, t, v === null ? copyShape(new Shape(), "default") : v, r));
      this.matchName = "ADBE Mask Atom";
    }
    _check() { if (this._gen !== this._parade._gen) throw fail("Object is invalid"); }
    _label() { return `mask "${this._name}"`; }
    _fresh() { this._gen = this._parade._gen; return this; }  // re-fetched by index or name: valid again
    get name() { this._check(); return this._name; }
    set name(v) { this._check(); this._name = String(v); }
    get maskMode() { this._check(); return this._mode; }
    set maskMode(v) { this._check(); if (!Object.values(ENUMS.MaskMode).includes(v)) throw fail(`bad maskMode ${v}`); this._mode = v; }
    get color() { this._check(); return sArr(this._color); }
    set color(v) {
      this._check(); const c = nums(v, 3, `${this._label()} color`);
      if (c.some((x) => x < 0 || x > 1)) throw fail(`${this._label()} color: components must be 0..1`);
      this._color = c;
    }
    get numProperties() { this._check(); return this._props.length; }
    property(key) {
      this._check();
      if (typeof key === "number") return this._props[key - 1] || null;
      const i = MASK_PROPS.findIndex(([m, n, aliases]) => m === key || n === key || aliases.includes(key));
      return i >= 0 ? this._props[i] : null;
    }
    get maskShape() { return this.property("maskShape"); }
    get maskPath() { return this.property("maskPath"); }
    get maskFeather() { return this.property("maskFeather"); }
    get maskOpacity() { return this.property("maskOpacity"); }
    get maskOffset() { return this.property("maskOffset"); }
    get maskExpansion() { return this.property("maskExpansion"); }
    _dump() {
      const mode = Object.keys(ENUMS.MaskMode).find((k) => ENUMS.MaskMode[k] === this._mode);
      return { name: this._name, mode, color: this._color, inverted: this.inverted, path: this._props[0]._dump(),
        feather: this._props[1]._dump(), opacity: this._props[2]._dump(), expansion: this._props[3]._dump() };
    }
  }
  class MaskParade {
    constructor(layer) { this._layer = layer; this._masks = []; this._gen = 0; this.matchName = "ADBE Mask Parade"; }
    get numProperties() { return this._masks.length; }
    canAddProperty(name) { return name === "ADBE Mask Atom" || name === "Mask"; }
    addProperty(name) {
      count("addProperty");
      if (!this.canAddProperty(name)) throw fail(`can not add a property named "${name}" to Masks`);
      this._gen += 1;  // AE rebuilds the group: every earlier reference goes stale
      const mask = new MaskPropertyGroup(this);
      this._masks.push(mask);
      return mask;
    }
    property(key) {
      if (typeof key === "number") return key >= 1 && key <= this._masks.length ? this._masks[key - 1]._fresh() : null;
      const m = this._masks.find((x) => x._name === key);
      return m ? m._fresh() : null;
    }
  }

  // ---- items and layers ----------------------------------------------------------------
  class FootageItem {
    constructor(info) {
      this.name = info.name; this.width = info.width; this.height = info.height; this.pixelAspect = info.pixelAspect || 1;
      this._fps = info.frameRate || 0; this._frames = info.frames || 0; this._file = info.file ? new File(info.file) : null;
      const self = this;
      this.mainSource = {
        isStill: !!info.isStill, color: info.color,
        get file() { return self._file; },
        get conformFrameRate() { return self._fps; },
        set conformFrameRate(v) {
          if (this.isStill) throw fail("Can not set conformFrameRate on a still");
          if (!(v > 0)) throw fail("conformFrameRate must be positive");
          self._fps = v;
        },
      };
    }
    get file() { return this._file; }
    get frameRate() { return this.mainSource.isStill ? 0 : this._fps; }
    get frameDuration() { return this.mainSource.isStill ? 0 : 1 / this._fps; }
    get duration() { return this.mainSource.isStill ? 0 : this._frames / this._fps; }
  }
  class AVLayer {
    constructor(comp, source, name, info) {
      info = info || {};
      this.containingComp = comp; this.source = source; this.name = name; this.startTime = info.startTime || 0;
      this.stretch = info.stretch || 100; this.timeRemapEnabled = !!info.timeRemapEnabled; this.selected = !!info.selected;
      this.inPoint = this.startTime; this.outPoint = this.startTime + (source.duration || comp.duration);
      this._parade = info.noMasks ? null : new MaskParade(this);
    }
    get width() { return this.source.width; }
    get height() { return this.source.height; }
    property(key) { return key === "ADBE Mask Parade" || key === "Masks" ? this._parade : null; }
    get mask() { return this._parade; }
    _dump() {
      const src = this.source;
      return { name: this.name, startTime: this.startTime, stretch: this.stretch, inPoint: this.inPoint, outPoint: this.outPoint,
        width: this.width, height: this.height,
        source: { name: src.name, file: src.file ? src.file.fsName : null, isStill: src.mainSource.isStill, frameRate: src.frameRate },
        masks: this._parade ? this._parade._masks.map((m) => m._dump()) : null };
    }
  }
  class CompItem {
    constructor(name, w, h, par, duration, fps) {
      this.name = name; this.width = w; this.height = h; this.pixelAspect = par; this.duration = duration; this.frameRate = fps;
      this.displayStartTime = 0; this._layers = []; this.openedInViewer = false;
      const comp = this;
      this.layers = {
        get length() { return comp._layers.length; },
        add(item, duration) {
          count("layers.add");
          if (!(item instanceof FootageItem)) throw fail("layers.add: not an AVItem");
          const layer = new AVLayer(comp, item, item.name, {});
          comp._layers.unshift(layer);
          return layer;
        },
        addSolid(color, name, w2, h2, par2, duration2) {
          count("layers.addSolid");
          nums(color, 3, "addSolid color");
          if (!(w2 >= 4 && w2 <= 30000 && h2 >= 4 && h2 <= 30000)) throw fail(`addSolid: size ${w2}x${h2} out of range`);
          const solid = new FootageItem({ name, width: w2, height: h2, pixelAspect: par2, isStill: true, color });
          const layer = new AVLayer(comp, solid, name, {});
          if (duration2 !== undefined) layer.outPoint = duration2;
          comp._layers.unshift(layer);
          return layer;
        },
      };
    }
    get frameDuration() { return 1 / this.frameRate; }
    get displayStartFrame() { return Math.round(this.displayStartTime * this.frameRate); }
    set displayStartFrame(f) { this.displayStartTime = f / this.frameRate; }
    get numLayers() { return this._layers.length; }
    layer(i) { return this._layers[i - 1] || null; }
    get selectedLayers() { return sArr(this._layers.filter((l) => l.selected)); }
    openInViewer() { this.openedInViewer = true; return null; }
    _dump() {
      return { name: this.name, width: this.width, height: this.height, pixelAspect: this.pixelAspect, duration: this.duration,
        frameRate: this.frameRate, displayStartFrame: this.displayStartFrame, openedInViewer: this.openedInViewer,
        layers: this._layers.map((l) => l._dump()) };
    }
  }
  class ImportOptions {
    constructor(file) { this.file = file; this.sequence = false; this.forceAlphabetical = false; }
  }

  // Footage as AE would import it: a sequence starts at its lowest-numbered file.
  function importFootage(io) {
    if (!(io.file instanceof File) || !io.file.exists) throw fail(`File not found: ${io.file}`);
    const p = io.file.fsName, size = setup.importSize || imageSize(p) || [1920, 1080];
    const info = { name: path.basename(p), width: size[0], height: size[1], frameRate: setup.importFrameRate || 30, file: p };
    const m = /^(.*?)(\d+)(\.[A-Za-z0-9]+)$/.exec(path.basename(p));
    if (io.sequence && m) {
      const dir = path.dirname(p), frames = fs.readdirSync(dir).map((n) => {
        const k = /^(.*?)(\d+)(\.[A-Za-z0-9]+)$/.exec(n);
        return k && k[1] === m[1] && k[3] === m[3] ? [parseInt(k[2], 10), n] : null;
      }).filter(Boolean).sort((a, b) => a[0] - b[0]);
      info.file = path.join(dir, frames[0][1]); info.frames = frames.length; info.name = `${m[1]}[${frames[0][0]}-${frames[frames.length - 1][0]}]${m[3]}`;
    } else if (/\.(mov|mp4|mxf|avi)$/i.test(p)) {
      info.frames = setup.movieFrames || 100;
    } else {
      info.isStill = true;
    }
    return new FootageItem(info);
  }
  function imageSize(p) {
    try {
      const b = fs.readFileSync(p);
      if (b.slice(1, 4).toString() === "PNG") return [b.readUInt32BE(16), b.readUInt32BE(20)];
    } catch (e) { /* not readable: default size */ }
    return null;
  }

  const project = {
    items: { addComp(name, w, h, par, duration, fps) {
      count("addComp");
      if (!(w >= 4 && w <= 30000 && h >= 4 && h <= 30000)) throw fail(`addComp: size ${w}x${h} out of range 4..30000`);
      if (!(par >= 0.01 && par <= 100)) throw fail(`addComp: pixel aspect ${par} out of range`);
      if (!(duration >= 0 && duration <= 10800)) throw fail(`addComp: duration ${duration} out of range`);
      if (!(fps >= 1 && fps <= 99)) throw fail(`addComp: frame rate ${fps} out of range 1..99`);
      const comp = new CompItem(String(name), w, h, par, duration, fps);
      project._items.push(comp);
      return comp;
    } },
    _items: [],
    activeItem: null,
    importFile(io) { count("importFile"); const item = importFootage(io); project._items.push(item); return item; },
    get numItems() { return project._items.length; },
    item(i) { return project._items[i - 1]; },
  };
  // The project the test starts from: footage items and comps with layers, one of them active.
  for (const f of setup.footage || []) project._items.push(new FootageItem(f));
  for (const c of setup.comps || []) {
    const comp = new CompItem(c.name, c.width, c.height, c.pixelAspect || 1, c.duration, c.frameRate);
    for (const l of (c.layers || []).slice().reverse()) {
      const src = l.footage !== undefined ? project._items[l.footage] : new FootageItem({ name: l.name, width: l.width || c.width,
        height: l.height || c.height, isStill: true });
      comp._layers.unshift(new AVLayer(comp, src, l.name || src.name, l));
    }
    project._items.push(comp);
    if (c.active) project.activeItem = comp;
  }

  const undo = { depth: 0, groups: [] };
  const settings = JSON.parse(JSON.stringify(setup.settings || {}));
  const prefs = setup.prefs || {};
  const app = {
    project, version: setup.version || "24.6x55", buildName: "mock",
    beginUndoGroup(name) { count("beginUndoGroup"); undo.depth += 1; undo.groups.push(String(name)); },
    endUndoGroup() { count("endUndoGroup"); if (undo.depth === 0) throw fail("endUndoGroup without beginUndoGroup"); undo.depth -= 1; },
    beginSuppressDialogs() {}, endSuppressDialogs() {},
    settings: {
      haveSetting(s, k) { return !!(settings[s] && k in settings[s]); },
      getSetting(s, k) { return settings[s] && k in settings[s] ? settings[s][k] : ""; },
      saveSetting(s, k, v) { if (typeof v !== "string") throw fail("saveSetting: value must be a string"); (settings[s] = settings[s] || {})[k] = v; },
    },
    preferences: {
      getPrefAsLong(section, key) {
        if (prefs[section] && key in prefs[section]) return prefs[section][key];
        throw fail(`preference ${section}/${key} not found`);
      },
    },
    scheduleTask() { return 0; }, cancelTask() {},
  };

  // ---- ScriptUI --------------------------------------------------------------------------
  class Control {
    constructor(type, text, props) {
      this.type = type; this.text = text === undefined ? "" : String(text); this.properties = props || {};
      this._children = []; this._items = []; this._selection = null; this.value = false; this.enabled = true;
      this.visible = true; this.preferredSize = { width: -1, height: -1 }; this.helpTip = "";
      this.layout = { layout() {}, resize() {} }; this.graphics = { newPen() {}, newBrush() {}, font: null };
    }
    get children() { return sArr(this._children); }
    get items() { return sArr(this._items); }
    add(type, bounds, text, props) {
      if (type === "item") {
        const item = { text: String(bounds), index: this._items.length, selected: false, type: "item" };
        this._items.push(item);
        return item;
      }
      const items = text && typeof text === "object" && typeof text.length === "number" ? Array.from(text) : null;
      const c = new Control(type, items ? "" : text, props); c.parent = this; this._children.push(c);
      if (items) for (const t of items) c.add("item", t);
      return c;
    }
    removeAll() { this._items = []; this._selection = null; }
    get selection() {
      if (this.properties.multiselect) { const s = this._items.filter((i) => i.selected); return s.length ? sArr(s) : null; }
      return this._selection;
    }
    set selection(v) {
      if (this.properties.multiselect) {
        for (const item of this._items) item.selected = false;
        const list = v === null ? [] : (typeof v.length === "number" ? Array.from(v) : [v]);
        for (const s of list) { const item = typeof s === "number" ? this._items[s] : s; if (item) item.selected = true; }
      } else {
        this._selection = v === null ? null : (typeof v === "number" ? this._items[v] || null : v);
      }
    }
    findElement(name) {
      for (const c of this._children) {
        if (c.properties.name === name) return c;
        const inner = c.findElement(name); if (inner) return inner;
      }
      return null;
    }
    notify(event) { const h = this[event || "onClick"]; if (h) h.call(this); }
  }
  const windows = [];
  class Window extends Control {
    constructor(type, title, bounds, props) { super(type, title, props); this.shown = false; windows.push(this); }
    show() { this.shown = true; } center() {} close() { this.shown = false; } update() {}
  }
  class Panel extends Control {}
  ctx.__panel = setup.asPanel ? new Panel("panel", "") : null;

  // ---- the globals a script sees -----------------------------------------------------------
  const dollar = {
    os: isWin ? "Windows/64 10.0" : "Macintosh OS 14.5.0/64", global: ctx, fileName: "",
    writeln(s) { log.push(String(s)); }, write(s) { log.push(String(s)); },
    getenv(k) { return k in env ? env[k] : (setup.env && k in setup.env ? setup.env[k] : process.env[k] || null); }, setenv(k, v) { env[k] = String(v); },
    evalFile(f) {
      count("$.evalFile");
      const p = f instanceof File ? f.fsName : String(f);
      return vm.runInContext(fs.readFileSync(p, "utf8"), ctx, { filename: p });
    },
  };
  const system = {
    osName: isWin ? "" : "MacOS", userName: "artist",
    callSystem(cmd) {
      count("system.callSystem");
      systemCalls.push(String(cmd));
      if (isWin) return setup.windowsOutput || "";
      const r = childProcess.spawnSync("/bin/sh", ["-c", String(cmd)], { env: Object.assign({}, process.env, env), encoding: "utf8" });
      return r.stdout;  // like AE: stdout only
    },
  };
  Object.assign(ctx, ENUMS, {
    app, $: dollar, system, File, Folder, Shape, CompItem, FootageItem, AVLayer, ImportOptions, Window, Panel,
    alert(m) { alerts.push(String(m)); }, confirm() { return true; }, prompt() { return null; },
  });

  return {
    ctx,
    windows() { return windows; },
    run(file, asPanel) {
      const src = fs.readFileSync(file, "utf8");
      dollar.fileName = path.resolve(file);
      // A file in ScriptUI Panels is run with `this` = its Panel.
      if (asPanel) return vm.runInContext(`(function () { return eval(${JSON.stringify(src)}); }).call(__panel)`, ctx, { filename: file });
      return vm.runInContext(src, ctx, { filename: file });
    },
    dump() {
      return { comps: project._items.filter((i) => i instanceof CompItem).map((c) => c._dump()),
        footage: project._items.filter((i) => i instanceof FootageItem).map((f) => ({ name: f.name, file: f.file ? f.file.fsName : null,
          frameRate: f.frameRate, pixelAspect: f.pixelAspect, isStill: f.mainSource.isStill })),
        undo, calls, alerts, log, settings, systemCalls, env };
    },
  };
}

module.exports = { createHost, ENUMS };

//@target aftereffects
// m2fp-roto panel for After Effects: roto masks of people on the chosen footage layer.
//
// Install: `m2fp-roto install ae` copies this file into "Scripts/ScriptUI Panels" (or put it
// there yourself), restart AE and open it from the Window menu; it docks like any panel. It also
// runs as a floating palette from File > Scripts > Run Script File.
//
// It runs the m2fp-roto command line on the layer's footage (system.callSystem waits until it
// finishes), then applies the .jsx that the command wrote to that layer ($.evalFile). ExtendScript
// is ECMAScript 3: no JSON, no Array.prototype.forEach/indexOf, no String.prototype.trim.
(function (thisObj) {
    var SECTION = "m2fp-roto";
    var IS_WIN = $.os.indexOf("Windows") !== -1;
    var CLI_NAME = IS_WIN ? "m2fp-roto.exe" : "m2fp-roto";
    var INSTALLED_CLI = "";  // written by `m2fp-roto install ae`: the installing environment's executable
    var PARTS = ["hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat", "socks", "pants",
                 "torso_skin", "scarf", "skirt", "face", "left_arm", "right_arm", "left_leg", "right_leg",
                 "left_shoe", "right_shoe"];  // CIHP, the label set of the M2FP model
    var SEQUENCE_EXTS = "|exr|dpx|cin|png|tif|tiff|jpg|jpeg|tga|sgi|rgb|bmp|psd|hdr|iff|jp2|";
    var footageLayers = [];  // [{comp, index, name}] behind the layer list's items

    // ---- settings, preferences, text ------------------------------------------------------
    function getSetting(key, fallback) {
        return app.settings.haveSetting(SECTION, key) ? app.settings.getSetting(SECTION, key) : fallback;
    }

    function setSetting(key, value) {
        app.settings.saveSetting(SECTION, key, String(value));
    }

    // "Allow Scripts to Write Files and Access Network": needed for the temp files and the CLI.
    function canWriteFiles() {
        var sections = ["Main Pref Section v2", "Main Pref Section"], i, type;
        type = typeof PREFType !== "undefined" ? PREFType.PREF_Type_MACHINE_INDEPENDENT : undefined;
        for (i = 0; i < sections.length; i++) {
            try {
                if ((type === undefined ? app.preferences.getPrefAsLong(sections[i], "Pref_SCRIPTING_FILE_NETWORK_SECURITY")
                        : app.preferences.getPrefAsLong(sections[i], "Pref_SCRIPTING_FILE_NETWORK_SECURITY", type)) === 1) {
                    return true;
                }
            } catch (e) {
                // this AE keeps the preference in the other section
            }
        }
        return false;
    }

    function preferenceHelp() {
        var menu = parseFloat(app.version) >= 16.1 ? "Scripting & Expressions" : "General";
        return "Turn on \"Allow Scripts to Write Files and Access Network\" in " +
               (IS_WIN ? "Edit > Preferences > " : "After Effects > Settings (Preferences) > ") + menu +
               ", then run again.";
    }

    function strip(text) {
        return String(text).replace(/^\s+|\s+$/g, "");
    }

    function lastLines(text, count) {
        var lines = strip(String(text).replace(/\r/g, "")).split("\n");
        return lines.slice(Math.max(0, lines.length - count)).join("\n");
    }

    function baseName(path) {
        var s = String(path);
        return s.substring(Math.max(s.lastIndexOf("/"), s.lastIndexOf("\\")) + 1);
    }

    // ---- running the command line ----------------------------------------------------------
    // POSIX shells: single quotes keep everything literal; a ' is written as '\''.
    function quotePosix(arg) {
        return "'" + String(arg).replace(/'/g, "'\\''") + "'";
    }

    // Windows: the MSVC argv rules (what a Python console script reads), inside one cmd.exe /c
    // string. cmd.exe would expand %NAME% and toggle its quoting on ", so those are refused.
    function quoteWindows(arg) {
        var s = String(arg);
        if (/["%\r\n]/.test(s)) {
            throw new Error("this path or value contains a character cmd.exe cannot pass on (\" or %): " + s);
        }
        return "\"" + s.replace(/(\\+)$/, "$1$1") + "\"";
    }

    function commandLine(argv) {
        var parts = [], i, line, shell;
        for (i = 0; i < argv.length; i++) {
            parts.push(IS_WIN ? quoteWindows(argv[i]) : quotePosix(argv[i]));
        }
        line = parts.join(" ") + " 2>&1";  // callSystem returns stdout only
        if (IS_WIN) {
            return "cmd.exe /c \"" + line + "\"";  // cmd strips the outer pair
        }
        if (String(argv[0]).charAt(0) === "/") {
            return line;
        }
        // A bare name: AE's own PATH is minimal, the user's login shell knows where it lives.
        shell = $.getenv("SHELL") || "/bin/sh";
        return quotePosix(shell) + " -lc " + quotePosix(line);
    }

    function run(argv) {
        return String(system.callSystem(commandLine(argv)) || "");
    }

    // The executable: the remembered path, the installer's, $M2FP_ROTO_CLI, the user's PATH,
    // then the usual places.
    function findCli() {
        var candidates = [getSetting("cli", ""), INSTALLED_CLI, $.getenv("M2FP_ROTO_CLI") || ""], found, i, home;
        home = $.getenv(IS_WIN ? "USERPROFILE" : "HOME") || "";
        for (i = 0; i < candidates.length; i++) {
            if (candidates[i] && new File(candidates[i]).exists) {
                return new File(candidates[i]).fsName;
            }
        }
        try {
            found = strip(run(IS_WIN ? ["where", CLI_NAME] : ["command", "-v", CLI_NAME]).split("\n")[0]);
            if (found && new File(found).exists) {
                return new File(found).fsName;
            }
        } catch (e) {
            // no shell answer: fall through to the usual places
        }
        candidates = IS_WIN ? [home + "\\AppData\\Local\\Programs\\Python\\Scripts\\" + CLI_NAME]
                            : [home + "/.local/bin/" + CLI_NAME, "/opt/homebrew/bin/" + CLI_NAME, "/usr/local/bin/" + CLI_NAME];
        for (i = 0; i < candidates.length; i++) {
            if (new File(candidates[i]).exists) {
                return new File(candidates[i]).fsName;
            }
        }
        return "";
    }

    // ---- the footage --------------------------------------------------------------------------
    function activeComp() {
        var item = app.project ? app.project.activeItem : null;
        return item instanceof CompItem ? item : null;
    }

    function hasFootageFile(layer) {
        return !!(layer && layer.source && layer.source.file && layer.source.mainSource && layer.property("ADBE Mask Parade"));
    }

    // What the command line reads: a sequence as a pattern (shot.####.exr), else the file.
    function footageInput(item) {
        var path = item.file.fsName, name = baseName(path), match = /(\d+)\.([A-Za-z0-9]+)$/.exec(name), hashes = "", i;
        if (item.mainSource.isStill || !match || SEQUENCE_EXTS.indexOf("|" + match[2].toLowerCase() + "|") < 0) {
            return { path: path, sequence: false, first: null };
        }
        for (i = 0; i < match[1].length; i++) {
            hashes += "#";
        }
        return { path: path.substring(0, path.length - match[0].length) + hashes + "." + match[2], sequence: true,
                 first: parseInt(match[1], 10) };
    }

    // The plate frames the layer shows inside the comp (its trimmed, visible part).
    function visibleFrames(comp, layer, first) {
        var src = layer.source, step = src.frameDuration * layer.stretch / 100, count, a, b, t0, t1;
        if (!(step > 0) || layer.timeRemapEnabled) {
            return null;
        }
        count = Math.round(src.duration / src.frameDuration);
        t0 = Math.max(layer.inPoint, 0);
        t1 = Math.min(layer.outPoint, comp.duration);
        a = Math.max(0, Math.ceil((t0 - layer.startTime) / step - 1e-6));
        b = Math.min(count - 1, Math.ceil((t1 - layer.startTime) / step - 1e-6) - 1);
        return b < a ? null : (first + a) + "-" + (first + b);
    }

    function parsePeople(text) {
        var t = strip(text).replace(/\s+/g, "");
        if (t === "" || t.toLowerCase() === "all") {
            return "";
        }
        if (!/^\d+(,\d+)*$/.test(t)) {
            throw new Error("People: give person numbers like 1,2 (or all)");
        }
        return t;
    }

    function buildArgs(cli, comp, layer, options, outFile) {
        var src = layer.source, input = footageInput(src), argv, frames, first;
        // One knob for both fits: --tolerance for each frame's curves and, at twice it (as the
        // CLI's defaults are), --anchor-tolerance for the tracked shapes' point count.
        argv = [cli, "export", input.path, "--target", "ae", "-o", outFile.fsName,
                "--tolerance", String(options.tolerance), "--anchor-tolerance", String(2 * options.tolerance),
                "--pixel-aspect", String(src.pixelAspect)];
        if (input.sequence) {
            argv.push("--fps", String(src.frameRate));
        }
        first = input.sequence ? input.first : 1;  // a movie's frames are numbered from 1
        if (options.visibleOnly && !src.mainSource.isStill) {
            frames = visibleFrames(comp, layer, first);
            if (frames) {
                argv.push("--frames", frames);
            }
        }
        if (options.people) {
            argv.push("--person", options.people);
        }
        if (options.parts) {
            argv.push("--part", options.parts);
        }
        return argv;
    }

    function workFolder() {
        var folder = new Folder(Folder.userData.fsName + "/m2fp-roto");
        if (!folder.exists && !folder.create()) {
            throw new Error("cannot create " + folder.fsName);
        }
        return folder;
    }

    function writeLog(folder, text) {
        var file = new File(folder.fsName + "/last_run.log");
        file.encoding = "UTF-8";
        if (file.open("w")) {
            file.write(text);
            file.close();
        }
        return file;
    }

    // ---- the panel ----------------------------------------------------------------------------
    var win = (thisObj instanceof Panel) ? thisObj
        : new Window("palette", "m2fp-roto", undefined, { resizeable: true });
    win.orientation = "column";
    win.alignChildren = ["fill", "top"];
    win.spacing = 6;
    win.margins = 8;

    var layerRow = win.add("group");
    layerRow.add("statictext", undefined, "Footage:");
    var layerList = layerRow.add("dropdownlist", undefined, [], { name: "layer" });
    layerList.preferredSize.width = 200;
    var refreshBtn = layerRow.add("button", undefined, "Refresh", { name: "refresh" });

    var peopleRow = win.add("group");
    peopleRow.add("statictext", undefined, "People:");
    var peopleText = peopleRow.add("edittext", undefined, "all", { name: "people" });
    peopleText.characters = 10;
    peopleText.helpTip = "Person numbers, e.g. 1,2 - or all";
    peopleRow.add("statictext", undefined, "Tolerance (px):");
    var toleranceText = peopleRow.add("edittext", undefined, getSetting("tolerance", "0.5"), { name: "tolerance" });
    toleranceText.characters = 5;
    toleranceText.helpTip = "Max distance of the curves from the part's edge; larger = fewer points";

    win.add("statictext", undefined, "Parts (none selected = all):");
    var partList = win.add("listbox", undefined, PARTS, { multiselect: true, name: "parts" });
    partList.preferredSize.height = 120;
    var visibleBox = win.add("checkbox", undefined, "Only the frames the layer shows in this comp", { name: "visible" });
    visibleBox.value = true;

    var cliRow = win.add("group");
    cliRow.add("statictext", undefined, "m2fp-roto:");
    var cliText = cliRow.add("edittext", undefined, getSetting("cli", ""), { name: "cli" });
    cliText.characters = 24;
    var browseBtn = cliRow.add("button", undefined, "...", { name: "browse" });
    browseBtn.preferredSize.width = 28;

    var runBtn = win.add("button", undefined, "Make roto masks", { name: "run" });
    var status = win.add("statictext", undefined, "", { multiline: true, name: "status" });
    status.preferredSize.height = 80;

    function say(message) {
        status.text = message;
        try {
            if (win instanceof Window) {
                win.update();
            }
        } catch (e) {
            // a docked panel has no update()
        }
    }

    function refreshLayers() {
        var comp = activeComp(), i, layer, pick = 0;
        layerList.removeAll();
        footageLayers = [];
        if (!comp) {
            return false;
        }
        for (i = 1; i <= comp.numLayers; i++) {
            layer = comp.layer(i);
            if (hasFootageFile(layer)) {
                if (layer.selected) {
                    pick = footageLayers.length;
                }
                footageLayers.push({ comp: comp, index: i, name: layer.name });
                layerList.add("item", i + ": " + layer.name);
            }
        }
        if (footageLayers.length) {
            layerList.selection = pick;
        }
        return footageLayers.length > 0;
    }

    function chosenLayer() {
        var entry, layer;
        if (!layerList.selection) {
            throw new Error("Pick a footage layer (open its comp and press Refresh).");
        }
        entry = footageLayers[layerList.selection.index];
        layer = entry.comp.numLayers >= entry.index ? entry.comp.layer(entry.index) : null;
        if (!layer || layer.name !== entry.name) {
            throw new Error("The comp's layers changed: press Refresh and pick the layer again.");
        }
        return { comp: entry.comp, layer: layer };
    }

    function chosenParts() {
        var picked = partList.selection, names = [], i;
        if (!picked) {
            return "";
        }
        for (i = 0; i < picked.length; i++) {
            names.push(picked[i].text);
        }
        return names.join(",");
    }

    function makeMasks() {
        var target, tolerance, cli, folder, outFile, argv, output, started, summary;
        if (!canWriteFiles()) {
            say(preferenceHelp());
            return;
        }
        target = chosenLayer();
        tolerance = parseFloat(toleranceText.text);
        if (isNaN(tolerance) || tolerance <= 0) {
            throw new Error("Tolerance must be a positive number of pixels.");
        }
        cli = strip(cliText.text) || findCli();
        if (!cli) {
            throw new Error("m2fp-roto was not found: press ... and pick the m2fp-roto executable " +
                            "(e.g. the venv's " + (IS_WIN ? "Scripts\\m2fp-roto.exe" : "bin/m2fp-roto") + ").");
        }
        cliText.text = cli;
        setSetting("cli", cli);
        setSetting("tolerance", String(tolerance));
        folder = workFolder();
        outFile = new File(folder.fsName + "/" + target.layer.name.replace(/[^A-Za-z0-9_\-]+/g, "_") + "_masks.jsx");
        if (outFile.exists) {
            outFile.remove();
        }
        argv = buildArgs(cli, target.comp, target.layer, {
            tolerance: tolerance, people: parsePeople(peopleText.text), parts: chosenParts(), visibleOnly: visibleBox.value
        }, outFile);
        say("Running m2fp-roto on \"" + target.layer.name + "\"...\nAfter Effects waits until it finishes.");
        started = new Date().getTime();
        output = run(argv);
        var logFile = writeLog(folder, commandLine(argv) + "\n\n" + output);
        if (!outFile.exists || outFile.modified.getTime() < started - 2000) {
            say("m2fp-roto failed:\n" + (lastLines(output, 4) || "(no output: is the path to m2fp-roto right?)") +
                "\nFull log: " + logFile.fsName);
            return;
        }
        $.global.M2FP_TARGET = target;
        try {
            summary = $.evalFile(outFile);
        } finally {
            $.global.M2FP_TARGET = null;
        }
        say(String(summary).replace(/^m2fp-roto: /, "Done: ") + " (" + Math.round((new Date().getTime() - started) / 1000) + " s)");
    }

    refreshBtn.onClick = function () {
        say(refreshLayers() ? "" : "Open a comp that holds footage, then press Refresh.");
    };
    browseBtn.onClick = function () {
        var file = File.openDialog("Locate the m2fp-roto executable");
        if (file) {
            cliText.text = file.fsName;
            setSetting("cli", file.fsName);
        }
    };
    cliText.onChange = function () {
        setSetting("cli", strip(cliText.text));
    };
    runBtn.onClick = function () {
        try {
            makeMasks();
        } catch (err) {
            say("Error: " + (err && err.message ? err.message : String(err)) + (err && err.line ? " (line " + err.line + ")" : ""));
        }
    };

    refreshLayers();
    say(canWriteFiles() ? "Pick a footage layer, then Make roto masks." : preferenceHelp());
    win.onResizing = win.onResize = function () {
        this.layout.resize();
    };
    if (win instanceof Window) {
        win.center();
        win.show();
    } else {
        win.layout.layout(true);
    }
})(this);

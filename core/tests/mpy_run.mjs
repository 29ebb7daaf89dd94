// Runs the core unit tests on real MicroPython (the WebAssembly port under Node.js).
//
// The files of core/ are copied into MicroPython's in-memory filesystem as the package
// heatkeeper.core, exactly as they would sit on a device, then every core/tests/test_*.py
// is run with MicroPython's unittest. Prints one summary line per module and a total line
// "mpy: N passed, N failed"; exits non-zero on any failure or error.
//
// usage: node core/tests/mpy_run.mjs [test_module ...]
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const here = path.dirname(url.fileURLToPath(import.meta.url));
const coreDir = path.resolve(here, "..");

const out = [];
const mp = await loadMicroPython({
  heapsize: 64 * 1024 * 1024,
  stdout: (line) => { out.push(line); process.stdout.write(line + "\n"); },
  stderr: (line) => process.stderr.write(line + "\n"),
});

mp.FS.mkdirTree("/lib/heatkeeper/core/tests");
mp.FS.writeFile("/lib/heatkeeper/__init__.py", "");
for (const name of fs.readdirSync(coreDir)) {
  if (name.endsWith(".py")) mp.FS.writeFile("/lib/heatkeeper/core/" + name, fs.readFileSync(path.join(coreDir, name)));
}
let modules = process.argv.slice(2);
for (const name of fs.readdirSync(here)) {
  if (name.endsWith(".py")) mp.FS.writeFile("/lib/heatkeeper/core/tests/" + name, fs.readFileSync(path.join(here, name)));
}
if (modules.length === 0) {
  modules = fs.readdirSync(here).filter((n) => /^test_.*\.py$/.test(n)).map((n) => n.slice(0, -3)).sort();
}
// Tests that check CPython-only machinery (the Cython build) declare themselves with a first-line marker.
modules = modules.filter((m) => !fs.readFileSync(path.join(here, m + ".py"), "utf8").startsWith("# cpython-only"));

const code = `
import sys, unittest
sys.path.append('/lib')
_passed = 0
_failed = 0
for _name in ${JSON.stringify(modules)}:
    try:
        _mod = __import__('heatkeeper.core.tests.' + _name, None, None, ['x'])
        _r = unittest.main(_mod)
        _bad = len(_r.failures) + len(_r.errors)
        _passed += _r.testsRun - _bad - _r.skippedNum
        _failed += _bad
        print('mpy: %s: %d run, %d failed, %d skipped' % (_name, _r.testsRun, _bad, _r.skippedNum))
    except Exception as _e:
        _failed += 1
        sys.print_exception(_e)
        print('mpy: %s: import error' % _name)
print('mpy: %d passed, %d failed' % (_passed, _failed))
_FAILED = _failed
`;
try {
  mp.runPython(code);
} catch (e) {
  console.error(e.message || e);
  process.exit(2);
}
process.exit(mp.globals.get("_FAILED") === 0 ? 0 : 1);

"""`heatkeeper bench charts`: the dashboard's chart renderers on long 1 Hz series, in a real browser.

Measured side by side in one headless Chromium run, on the same generated series (a supply
temperature at 1 Hz: a daily swing, a slow seasonal drift and noise), for each renderer:

- `svg`: the hand-written SVG path the trends page drew before (one path, every point);
- `echarts`: Apache ECharts 5 (npm, node_modules), a line with LTTB sampling and `large` mode;
- `uplot`: uPlot (npm, vendored into supervisor/web/static/vendor: what the dashboard serves),
  a line with its own per-pixel decimation.

For each series length (default: one day, one week and a whole 209-day season at 1 Hz; `--points`
adds lengths such as the trends page's 2,000-point budget; `--repeat` takes the median) it prints
the time to the first complete frame, the time to redraw zoomed to one day, and the JavaScript
heap afterwards. A renderer that runs out of time (`--timeout-s`) or memory is reported as
failed for that length, and the next length is still measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "supervisor" / "web" / "static" / "vendor"
# uPlot is what the dashboard serves (vendored); ECharts is measured from node_modules (npm, pinned)
SCRIPTS = {"echarts": ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js", "uplot": VENDOR / "uPlot.iife.min.js"}
STYLES = {"uplot": VENDOR / "uPlot.min.css"}
RENDERERS = ("svg", "echarts", "uplot")
DAY = 86400
DEFAULT_DAYS = (1.0, 7.0, 209.0)
WIDTH, HEIGHT = 1200, 320
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--js-flags=--max-old-space-size=8192"]

# The series is built inside the page (no transfer cost), identically for every renderer.
SERIES_JS = """
window.hkSeries = function (n) {
  const ts = new Float64Array(n), v = new Float64Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    ts[i] = 1764547200 + i;
    v[i] = 55 + 8 * Math.sin(i * 2 * Math.PI / 86400) - 10 * i / 18057600 + (seed / 0x7fffffff - 0.5) * 0.6;
  }
  return [ts, v];
};
window.hkFrame = function () { return new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(r); }); }); };
"""

RENDER_JS = {
    # What the trends page did: one SVG path through every point, scaled to the box.
    "svg": """async function (n) {
      const [ts, v] = hkSeries(n); const t0 = performance.now();
      const draw = function (a, b) {
        let lo = Infinity, hi = -Infinity, i0 = 0, i1 = n - 1;
        while (i0 < n && ts[i0] < a) i0++; while (i1 > 0 && ts[i1] > b) i1--;
        for (let i = i0; i <= i1; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; }
        const parts = [];
        for (let i = i0; i <= i1; i++) {
          parts.push((i === i0 ? "M" : "L") + ((ts[i] - a) / (b - a) * %(w)d).toFixed(1) + "," + ((hi - v[i]) / (hi - lo) * %(h)d).toFixed(1));
        }
        const NS = "http://www.w3.org/2000/svg"; const box = document.createElementNS(NS, "svg");
        box.setAttribute("width", "%(w)d"); box.setAttribute("height", "%(h)d");
        const p = document.createElementNS(NS, "path"); p.setAttribute("d", parts.join("")); p.setAttribute("fill", "none");
        p.setAttribute("stroke", "#c33"); box.append(p); const host = document.getElementById("c"); host.replaceChildren(box);
      };
      draw(ts[0], ts[n - 1]); await hkFrame(); const t1 = performance.now();
      draw(ts[n - 1] - 86400, ts[n - 1]); await hkFrame(); const t2 = performance.now();
      return [t1 - t0, t2 - t1];
    }""",
    "echarts": """async function (n) {
      const [ts, v] = hkSeries(n); const t0 = performance.now();
      const chart = echarts.init(document.getElementById("c"), null, {renderer: "canvas", width: %(w)d, height: %(h)d});
      const data = new Float64Array(2 * n); for (let i = 0; i < n; i++) { data[2 * i] = ts[i] * 1000; data[2 * i + 1] = v[i]; }
      const done = new Promise(function (r) { chart.on("finished", r); });
      chart.setOption({animation: false, xAxis: {type: "time"}, yAxis: {type: "value", scale: true},
        dataZoom: [{type: "inside", filterMode: "none"}],
        series: [{type: "line", data: data, dimensions: ["t", "v"], showSymbol: false, sampling: "lttb", large: true, lineStyle: {width: 1}}]});
      await done; await hkFrame(); const t1 = performance.now();
      const again = new Promise(function (r) { chart.on("finished", r); });
      chart.dispatchAction({type: "dataZoom", startValue: (ts[n - 1] - 86400) * 1000, endValue: ts[n - 1] * 1000});
      await again; await hkFrame(); const t2 = performance.now();
      return [t1 - t0, t2 - t1];
    }""",
    "uplot": """async function (n) {
      const [ts, v] = hkSeries(n); const t0 = performance.now();
      const u = new uPlot({width: %(w)d, height: %(h)d, scales: {x: {time: true}},
        series: [{}, {stroke: "#c33", width: 1, points: {show: false}}]}, [ts, v], document.getElementById("c"));
      await hkFrame(); const t1 = performance.now();
      u.setScale("x", {min: ts[n - 1] - 86400, max: ts[n - 1]}); await hkFrame(); const t2 = performance.now();
      return [t1 - t0, t2 - t1];
    }""",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=float, nargs="+", default=list(DEFAULT_DAYS),
                        help="series lengths in days of 1 Hz samples (default: 1 7 209)")
    parser.add_argument("--points", type=int, nargs="+", default=[],
                        help="also these series lengths in points (the trends page asks the API for at most 2000)")
    parser.add_argument("--repeat", type=int, default=1, help="measure every case this many times (a fresh browser each)")
    parser.add_argument("--renderers", nargs="+", choices=RENDERERS, default=list(RENDERERS))
    parser.add_argument("--timeout-s", type=float, default=120.0, help="give up on one renderer and length after this")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def problems(args: argparse.Namespace) -> list[str]:
    found = []
    for d in args.days:
        if not (d > 0 and d <= 366):
            found.append("--days %r: each length must be in (0, 366]" % d)
    for n in args.points:
        if not 2 <= n <= 40_000_000:
            found.append("--points %r: each length must be in [2, 40000000]" % n)
    if not 1 <= args.repeat <= 20:
        found.append("--repeat %r: must be in [1, 20]" % args.repeat)
    if not (args.timeout_s > 0):
        found.append("--timeout-s %r: must be above 0" % args.timeout_s)
    for name, path in SCRIPTS.items():
        if name in args.renderers and not path.is_file():
            found.append("%s is missing: a charting library (run `npm install`)" % path)
    if not Path(CHROMIUM).is_file():
        found.append("%s is missing: this benchmark needs Chromium" % CHROMIUM)
    return found


async def one(browser: Any, renderer: str, n: int, timeout_s: float) -> dict[str, Any]:
    from playwright.async_api import Error as BrowserError

    page = await browser.new_page(viewport={"width": WIDTH + 40, "height": HEIGHT + 40})
    try:
        await page.set_content('<html><body style="margin:0"><div id="c" style="width:%dpx;height:%dpx"></div></body></html>'
                               % (WIDTH, HEIGHT))
        if renderer in STYLES:
            await page.add_style_tag(path=str(STYLES[renderer]))
        if renderer in SCRIPTS:
            await page.add_script_tag(path=str(SCRIPTS[renderer]))
        await page.add_script_tag(content=SERIES_JS)
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        code = RENDER_JS[renderer] % {"w": WIDTH, "h": HEIGHT}
        first_ms, zoom_ms = await asyncio.wait_for(page.evaluate(code, n), timeout_s)
        metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        return {"ok": True, "first_frame_ms": round(first_ms, 1), "zoom_day_ms": round(zoom_ms, 1),
                "js_heap_mb": round(metrics.get("JSHeapUsedSize", 0.0) / 1e6, 1)}
    except (TimeoutError, BrowserError) as exc:  # a timeout, an out-of-memory crash: reported, the next case still runs
        return {"ok": False, "error": (type(exc).__name__ + ": " + str(exc)).splitlines()[0][:200]}
    finally:
        try:
            await asyncio.wait_for(page.close(), 30)
        except (TimeoutError, BrowserError):
            pass  # the page's renderer crashed: the browser is closed after this case anyway


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median first frame of those that finished (the first failure if none did)."""
    done = sorted((r for r in runs if r["ok"]), key=lambda r: r["first_frame_ms"])
    return {**done[len(done) // 2], "runs": len(runs), "failed": len(runs) - len(done)} if done else runs[0]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    results: dict[str, Any] = {"width_px": WIDTH, "height_px": HEIGHT, "cases": []}
    async with async_playwright() as pw:
        for n in [*args.points, *(int(round(days * DAY)) for days in args.days)]:
            row: dict[str, Any] = {"days": round(n / DAY, 4), "points": n}
            for renderer in args.renderers:
                runs = []
                for _ in range(args.repeat):
                    # a fresh browser per run: one renderer's garbage must not weigh on the next one's figures
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    try:
                        runs.append(await one(browser, renderer, n, args.timeout_s))
                    finally:
                        await browser.close()
                row[renderer] = median_run(runs)
            results["cases"].append(row)
    return results


def run(args: argparse.Namespace) -> int:
    found = problems(args)
    if found:
        for p in found:
            print("heatkeeper bench charts: " + p)
        return 2
    t0 = time.perf_counter()
    results = asyncio.run(measure(args))
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("Chart renderers, %d x %d px, headless Chromium (first frame / zoom to one day / JS heap)" % (WIDTH, HEIGHT))
    for row in results["cases"]:
        cells = []
        for renderer in args.renderers:
            r = row[renderer]
            cells.append("%s %s" % (renderer, "%.0f ms / %.0f ms / %.0f MB" % (r["first_frame_ms"], r["zoom_day_ms"], r["js_heap_mb"])
                                    if r["ok"] else "failed (%s)" % r["error"]))
        print("  %8.3f days, %10d points: %s" % (row["days"], row["points"], "; ".join(cells)))
    return 0

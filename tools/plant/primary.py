"""The primary network: N stations on one main from one heat source (issue 19 §1, primary part).

    net = PrimaryNetwork(["residential", "industrial", ...], capacity_kw=60000.0)
    state = net.solve(conductances, target_c, flows_m3h, returns_c)

The stations (tools/plant Plant, one per station) hang on one main, a supply and a return pipe
side by side, in the order given: station 0 next to the source, the last one at the far end.
Segment i (kPa = r_i q^2, supply and return together, q in m3/h) feeds node i, where station i
takes its flow q_i = g_i sqrt(dp_i) (g its conductance, m3/h per sqrt(kPa): control valve and
exchanger in series, what the station's valve opening gives) and the rest goes on. The source
holds `source_dp_kpa` across its outlet. The segments are equal and sized so that with every
station at `design_flow_m3h` the far one sees `far_dp_kpa`: stations far from the source get
less differential pressure, so less primary flow at the same valve opening, and more so when
the near ones open up.

The source's circulating pump holds the far (most unfavourable) station's dp at `far_dp_kpa`
(最不利环路压差控制, the usual control of a primary pump): with the stations' conductances fixed every
dp scales with the source's, so the source dp is set exactly, between `source_dp_kpa` and the
pump's `source_max_dp_kpa`. When the stations draw more than the pump can carry to the far end
(a cold spell below the design outdoor temperature), the far stations get less than `far_dp_kpa`.

The line is solved exactly: from the far end back, a segment in series with what lies beyond it
has g_s = 1 / sqrt(1/g^2 + r) and a node's stations add in parallel (g sums); from the source
forward the flows and pressure drops follow. No iteration.

The heat source keeps its weather-compensated supply temperature (`target_c`, the plant's own
70-110 degC law) while it can; its capacity `capacity_kw` caps the heat it gives. Drawn flow
sum(q_i) coming back at the mixed return temperature, the most supply temperature it can hold
is t_ret + capacity / (rho c sum(q_i)): above the demand the supply drops, for every station,
the far and the near alike. The figure moves towards that value by `relax` per solve (the source's
thermal inertia; it also damps the coupling with the stations, which answer a colder supply by
opening their valves).

The coupling with the stations is sequential: the benchmark runs every station for one network
step (a few minutes) at the differential pressure and supply temperature of the last solve,
then hands back each station's mean primary flow, the pressure it ran at and its primary return
temperature; their ratio is the conductance the next solve uses. This runs once per network
step for the whole fleet (not per control cycle), so it is plain Python and numpy, not compiled.
"""

from __future__ import annotations

import math
from typing import Any

CLASSES = ("residential", "public", "commercial", "industrial")
RHO_CP_KJ_M3K = 4180.0 * 0.975  # kJ/(m3 K), water near 70 degC (the plant's water_rho_cp_kj_m3k)

DEFAULTS: dict[str, float] = {
    "source_dp_kpa": 300.0,  # differential pressure the source holds across its outlet
    # what the far end sees when every station draws its design flow: the reference station's
    # nominal available dp (plant params primary_dp_kpa), as a network is sized; in a cold spell
    # below the design outdoor temperature the stations draw more and the far end gets less
    "far_dp_kpa": 100.0,
    "design_flow_m3h": 73.0,  # each station's primary design flow (the reference plant's, plant_physics 1.7)
    "relax": 0.5,  # share of the way to the held supply temperature per solve
    "source_max_dp_kpa": 600.0,  # the most the source's pump gives (far-end control)
}


def series(g: float, r: float) -> float:
    """Conductance of `g` (m3/h per sqrt(kPa)) in series with a pipe of resistance `r` (kPa/(m3/h)^2)."""
    if g <= 0.0:
        return 0.0
    return 1.0 / math.sqrt(1.0 / (g * g) + r)


class PrimaryNetwork:
    """One source, one main, the stations along it (see the module docstring)."""

    def __init__(self, classes: list[str], capacity_kw: float = math.inf, **options: float) -> None:
        problems = network_problems(classes, capacity_kw, options)
        if problems:
            raise ValueError("; ".join(problems))
        o = dict(DEFAULTS, **options)
        self.classes = list(classes)
        self.n = len(classes)
        self.capacity_kw = float(capacity_kw)
        self.source_dp_kpa = float(o["source_dp_kpa"])
        self.far_dp_kpa = float(o["far_dp_kpa"])
        self.design_flow_m3h = float(o["design_flow_m3h"])
        self.relax = float(o["relax"])
        self.source_max_dp_kpa = float(o["source_max_dp_kpa"])
        self.dp_now_kpa = self.source_dp_kpa  # the source's dp after the last solve
        n = self.n
        # every station at q_d: segment k carries (n - k) q_d; sum r (n-k)^2 q_d^2 = source - far
        weight = sum((n - k) ** 2 for k in range(n))
        r = (self.source_dp_kpa - self.far_dp_kpa) / (weight * self.design_flow_m3h**2)
        self.r = [r] * n
        self.supply_c = math.nan  # the source's supply temperature after the last solve

    def hydraulics(self, g: list[float], source_dp_kpa: float | None = None) -> tuple[list[float], list[float]]:
        """(dp at each station in kPa, each station's flow in m3/h) for conductances `g` at the
        source dp `source_dp_kpa` (default `source_dp_kpa`)."""
        n = self.n
        head = self.source_dp_kpa if source_dp_kpa is None else source_dp_kpa
        beyond = [0.0] * (n + 1)  # conductance of everything from node i on, seen at node i
        for i in range(n - 1, -1, -1):
            beyond[i] = max(0.0, g[i]) + series(beyond[i + 1], self.r[i + 1]) if i + 1 < n else max(0.0, g[i])
        total = series(beyond[0], self.r[0]) * math.sqrt(head)
        dp = [0.0] * n
        q = [0.0] * n
        p = head
        through = total
        for i in range(n):
            p -= self.r[i] * through * through
            p = max(p, 0.0)
            dp[i] = p
            q[i] = max(0.0, g[i]) * math.sqrt(p)
            through -= q[i]
            through = max(through, 0.0)
        return dp, q

    def controlled(self, g: list[float]) -> tuple[list[float], list[float], float]:
        """hydraulics() with the source's dp set by far-end control: (dp, flow, source dp)."""
        dp, q = self.hydraulics(g)
        far = dp[-1]
        head = self.source_max_dp_kpa if far <= 1e-9 else self.source_dp_kpa * self.far_dp_kpa / far
        head = min(self.source_max_dp_kpa, max(self.source_dp_kpa, head))
        if head != self.source_dp_kpa:
            dp, q = self.hydraulics(g, head)
        return dp, q, head

    def held_supply_c(self, target_c: float, flows_m3h: list[float], returns_c: list[float]) -> float:
        """The supply temperature the source holds at its capacity for these flows and returns."""
        flow = sum(flows_m3h)
        if flow <= 1e-9 or not math.isfinite(self.capacity_kw):
            return target_c
        t_ret = sum(f * t for f, t in zip(flows_m3h, returns_c, strict=True)) / flow
        ceiling = t_ret + self.capacity_kw * 3600.0 / (RHO_CP_KJ_M3K * flow)
        return min(target_c, ceiling)

    def solve(self, target_c: float, flows_m3h: list[float], dps_kpa: list[float], returns_c: list[float]) -> dict[str, Any]:
        """One network step: from each station's last mean flow, the dp it ran at and its return,
        the dp each station gets next and the source's supply temperature.

        Returns {"dp_kpa": [...], "flow_m3h": [...] (at the new dps, same openings), "source_dp_kpa",
        "supply_c", "heat_kw" (the source's heat at the last flows), "short" (capacity binding)}.
        """
        g = [f / math.sqrt(d) if d > 1e-9 else 0.0 for f, d in zip(flows_m3h, dps_kpa, strict=True)]
        dp, q, self.dp_now_kpa = self.controlled(g)
        held = self.held_supply_c(target_c, flows_m3h, returns_c)
        prev = self.supply_c if math.isfinite(self.supply_c) else target_c
        supply = prev + self.relax * (held - prev)
        supply = min(supply, target_c)
        self.supply_c = supply
        heat = sum(f * max(0.0, supply - t) for f, t in zip(flows_m3h, returns_c, strict=True)) * RHO_CP_KJ_M3K / 3600.0
        return {"dp_kpa": dp, "flow_m3h": q, "source_dp_kpa": self.dp_now_kpa, "supply_c": supply, "heat_kw": heat, "short": held < target_c - 1e-6}


def network_problems(classes: Any, capacity_kw: Any, options: dict[str, Any]) -> list[str]:
    """Every problem of a network's description (empty when it can be built)."""
    problems = []
    if not isinstance(classes, list) or not classes:
        problems.append("classes=%r: must be a non-empty list of %s" % (classes, ", ".join(CLASSES)))
    else:
        bad = sorted({c for c in classes if c not in CLASSES}, key=str)
        if bad:
            problems.append("classes: unknown %s: choose from %s" % (bad, ", ".join(CLASSES)))
    if not isinstance(capacity_kw, (int, float)) or isinstance(capacity_kw, bool) or not capacity_kw > 0.0:
        problems.append("capacity_kw=%r: must be > 0 (math.inf: no limit)" % (capacity_kw,))
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        problems.append("unknown option(s) %s: choose from %s" % (unknown, ", ".join(DEFAULTS)))
    o = dict(DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS})
    for key in DEFAULTS:
        value = o[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0.0:
            problems.append("%s=%r: must be a finite number > 0" % (key, value))
    if not problems and o["far_dp_kpa"] >= o["source_dp_kpa"]:
        problems.append("far_dp_kpa=%r: must be below source_dp_kpa=%r (the main loses pressure)"
                        % (o["far_dp_kpa"], o["source_dp_kpa"]))
    if not problems and o["source_max_dp_kpa"] < o["source_dp_kpa"]:
        problems.append("source_max_dp_kpa=%r: must be at least source_dp_kpa=%r"
                        % (o["source_max_dp_kpa"], o["source_dp_kpa"]))
    if not problems and o["relax"] > 1.0:
        problems.append("relax=%r: must be in (0, 1]" % o["relax"])
    return problems

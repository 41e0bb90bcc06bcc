"""Turn a scenario's measurements into bench/results/<date>-<scenario>.{md,json}.

A scenario returns a dict:

    {"scenario": "footprint", "title": "...", "what": "one paragraph",
     "params": {...},
     "metrics": [Metric, ...],
     "tables": [{"title", "header": [...], "rows": [[...]]}, ...],   (optional)
     "notes": ["...", ...],                                          (optional)
     "raw": [...]}                                                    (every run)

and a Metric is

    {"label": "RSS, idle daemon", "unit": "MB",
     "values": {"corral": [run1, run2...], "pm2": [...], "limit": [...]},
     "target": [Condition, ...]}

with a Condition one of

    {"op": "<=", "factor": 0.05, "ref": "pm2"}   corral's median ≤ 0.05 × PM2's
    {"op": ">=", "factor": 2.5,  "ref": "pm2"}
    {"op": "==", "value": 0, "stat": "max"}      every run (the max) is 0
    {"op": "<=", "value": 1.0}                   corral's median ≤ 1.0

Medians are compared; the spread printed is min–max over the runs.
"""
import json
import os
import time

from common import summary

SYSTEMS = [("corral", "corral"), ("pm2", "PM2"), ("limit", "limit"),
           ("corral_norot", "corral without rotation")]
OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}


def fmt(v, unit):
    if v is None:
        return "–"
    if unit in ("req/s", "lines/s"):
        return f"{v:,.0f}".replace(",", " ")
    if unit == "count":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if v else "0"


def cell(values, unit):
    s = summary(values)
    if not s:
        return "–"
    u = "" if unit == "count" else f" {unit}"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{fmt(s['median'], unit)}{u}"
    return f"{fmt(s['median'], unit)}{u} ({fmt(s['min'], unit)}–{fmt(s['max'], unit)})"


def ratio_text(r):
    if r is None:
        return "–"
    if r == 0:
        return "×0"
    if r < 1:
        return f"×{r:.3g} (1/{1 / r:.3g})"
    return f"×{r:.3g}"


def target_text(cond):
    parts = []
    for c in cond:
        ref = dict(SYSTEMS).get(c.get("ref"), c.get("ref"))
        if "factor" in c:
            f = c["factor"]
            ftxt = f"1/{1 / f:.3g}" if f < 1 and (1 / f) == round(1 / f) else f"{f:g}×"
            parts.append(f"{c['op'].replace('<=', '≤').replace('>=', '≥')} {ftxt} {ref}")
        else:
            what = "every run " if c.get("stat") == "max" else ""
            parts.append(f"{what}{c['op'].replace('<=', '≤').replace('>=', '≥').replace('==', '=')} "
                         f"{c['value']:g}{(' ' + c['unit']) if c.get('unit') else ''}")
    return ", ".join(parts) if parts else "–"


def evaluate(metric):
    """(ratio texts, met) for one metric; met is True/False/None (no target or no data)."""
    vals = metric["values"]
    med = {k: (summary(v) or {}).get("median") for k, v in vals.items()}
    conds = metric.get("target") or []
    refs = [c["ref"] for c in conds if c.get("ref")] or (["pm2"] if "pm2" in vals else [])
    ratios = {}
    for ref in refs:
        a, b = med.get("corral"), med.get(ref)
        if a is not None and b:
            ratios[ref] = a / b
    met = None
    for c in conds:
        if "factor" in c:
            if c["ref"] not in ratios:
                continue
            ok = OPS[c["op"]](ratios[c["ref"]], c["factor"])
        else:
            s = summary(vals.get("corral") or [])
            if not s:
                continue
            ok = OPS[c["op"]](s[c.get("stat", "median")], c["value"])
        met = ok if met is None else (met and ok)
    return ratios, met


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def render(result, machine, ctx):
    present = [(k, l) for k, l in SYSTEMS if any(k in m["values"] for m in result["metrics"])]
    header = ["metric"] + [l for _, l in present] + ["ratio (corral ÷)", "target", "met?"]
    rows = []
    for m in result["metrics"]:
        ratios, met = evaluate(m)
        rtxt = "; ".join(f"{ratio_text(r)} {dict(SYSTEMS)[k]}" if len(ratios) > 1 or k != "pm2"
                         else ratio_text(r) for k, r in ratios.items()) or "–"
        rows.append([m["label"]] + [cell(m["values"].get(k) or [], m["unit"]) for k, _ in present]
                    + [rtxt, target_text(m.get("target") or []),
                       {True: "yes", False: "**no**", None: "–"}[met]])
    lines = [f"# {result['title']}", ""]
    lines.append(f"{time.strftime('%Y-%m-%d')} · {ctx['runs_text']} · `{ctx['command']}`")
    lines.append("")
    lines.append(md_table(["machine", ""], [
        ["cores", f"{machine['cores']} ({machine.get('cpu') or '?'})"],
        ["memory", f"{machine.get('memory_mb')} MB"],
        ["OS, kernel", f"{machine.get('os')}, {machine['kernel']}"],
        ["Node", machine.get("node")],
        ["PM2", machine.get("pm2") or "not run"],
        ["corral", f"{machine.get('corral_commit')}"],
        ["load generator", f"{machine.get('wrk') or '–'}; {machine.get('hyperfine') or 'no hyperfine'}"],
        ["load average at start", f"{machine.get('loadavg_at_start'):.2f}"],
    ]))
    lines += ["", result["what"], "", md_table(header, rows), ""]
    lines.append("Cells: median (min–max) over the runs. Ratio: corral's median divided by the "
                 "other's; the target is checked on medians.")
    for t in result.get("tables") or []:
        lines += ["", f"### {t['title']}", ""]
        if t.get("text"):
            lines += [t["text"], ""]
        lines.append(md_table(t["header"], t["rows"]))
    if result.get("notes"):
        lines += ["", "### Notes", ""]
        lines += [f"- {n}" for n in result["notes"]]
    if result.get("params"):
        lines += ["", "### Parameters", ""]
        lines += [f"- {k}: `{v}`" for k, v in result["params"].items()]
    return "\n".join(lines) + "\n"


def write(result, machine, ctx, results_dir, label=None):
    os.makedirs(results_dir, exist_ok=True)
    stem = os.path.join(results_dir, f"{time.strftime('%Y-%m-%d')}-{result['scenario']}"
                        + (f"-{label}" if label else ""))
    with open(stem + ".md", "w") as f:
        f.write(render(result, machine, ctx))
    summaries = []
    for m in result["metrics"]:
        ratios, met = evaluate(m)
        summaries.append({"label": m["label"], "unit": m["unit"],
                          "summary": {k: summary(v) for k, v in m["values"].items()},
                          "ratios": ratios, "target": m.get("target"), "met": met})
    doc = {"scenario": result["scenario"], "title": result["title"], "machine": machine,
           "command": ctx["command"], "runs": ctx["runs"], "quick": ctx["quick"],
           "params": result.get("params"), "metrics": [
               {**m, "summary": s["summary"], "ratios": s["ratios"], "met": s["met"]}
               for m, s in zip(result["metrics"], summaries)],
           "tables": result.get("tables"), "notes": result.get("notes"),
           "raw": result.get("raw")}
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    return stem + ".md"


def console(result):
    """A short text version for the terminal."""
    out = [f"== {result['title']}"]
    for m in result["metrics"]:
        ratios, met = evaluate(m)
        vals = "  ".join(f"{dict(SYSTEMS)[k]}={cell(v, m['unit'])}" for k, v in m["values"].items())
        r = " ".join(f"{ratio_text(x)}÷{k}" for k, x in ratios.items())
        out.append(f"  {m['label']}: {vals}  {r}  target {target_text(m.get('target') or [])}: "
                   f"{ {True: 'met', False: 'NOT met', None: '-'}[met] }")
    return "\n".join(out)

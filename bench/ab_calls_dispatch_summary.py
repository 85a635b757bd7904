#!/usr/bin/env python3
# Table of medians for scripts/bench-ab-mesh: remote and local calls and dispatch per chunk,
# old and new, read from DIR/{calls,disp}-{old,new}-ROUND.json, with the paired ratio.
"""Usage: ab_calls_dispatch_summary.py DIR"""
import glob
import json
import os
import statistics as st
import sys

D = sys.argv[1] if len(sys.argv) > 1 else "."
rounds=sorted(int(p.rsplit("-",1)[1][:-5]) for p in glob.glob(D+"/disp-new-*.json"))
rounds=[r for r in rounds if all(os.path.exists(f"{D}/{k}-{s}-{r}.json") for k in ("calls","disp") for s in ("old","new"))]
def calls(side,r,name,key):
    for b in json.load(open(f"{D}/calls-{side}-{r}.json"))["benchmarks"]:
        if b["name"].startswith(name+"/"): return b[key]
def disp(side,r,key): return json.load(open(f"{D}/disp-{side}-{r}.json"))["rows"][0][key]
rows=[("remote call p50 (us)",lambda s,r:calls(s,r,"mesh_sum/remote","p50_us")),
      ("remote call p99 (us)",lambda s,r:calls(s,r,"mesh_sum/remote","p99_us")),
      ("local call p50 (us)",lambda s,r:calls(s,r,"mesh_sum/local","p50_us")),
      ("dispatch per chunk (us)",lambda s,r:disp(s,r,"per_chunk_us")),
      ("dispatch (elapsed-ideal)/chunk (us)",lambda s,r:disp(s,r,"overhead_per_chunk_us")),
      ("dispatch CPU per chunk (us)",lambda s,r:disp(s,r,"cpu_us_per_chunk")),
      ("dispatch executor per chunk (us)",lambda s,r:disp(s,r,"executor_us_per_chunk"))]
print(f"{len(rounds)} rounds")
print("| figure | old median | new median | paired new/old (median) | old range | new range |")
print("|---|---|---|---|---|---|")
for label,f in rows:
    o=[f("old",r) for r in rounds]; n=[f("new",r) for r in rounds]
    pr=st.median([b/a for a,b in zip(o,n)])
    print(f"| {label} | {st.median(o):.0f} | {st.median(n):.0f} | **{pr:.2f}x** | {min(o):.0f}-{max(o):.0f} | {min(n):.0f}-{max(n):.0f} |")

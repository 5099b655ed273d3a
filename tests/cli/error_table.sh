#!/usr/bin/env bash
# Runs every row of docs/errors.md: exit code 2 and the documented message, with the fixtures the doc describes.
source "$(dirname "$0")/common.sh"
cd "$TMP"
V2="$SRC/data/models/DeepSeek-V2-Lite/config.json"
$PY - "$V2" "$SRC" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def variant(name, key, value):
    e = dict(d); e[key] = value; json.dump(e, open(name, "w"), indent=1)
variant("neg.json", "hidden_size", -5)
variant("type.json", "hidden_size", "big")
variant("huge.json", "n_routed_experts", 10**12)
variant("topk.json", "num_experts_per_tok", 100)
open("nan.json", "w").write(json.dumps(d).replace('"hidden_size": 2048', '"hidden_size": NaN'))
g = json.load(open(sys.argv[2] + "/data/traces/gpt-oss-20b-sample/mmlu_pro_test-math.json"))
first = g[0] if isinstance(g, list) else g
rd = first["router_data"]
tok = rd[0] if isinstance(rd, list) else rd[next(iter(rd))]
tok = tok[next(iter(tok))] if "layer_0" not in tok else tok
tok["layer_0"]["selected_experts"][0] = 99
json.dump(g, open("oob.json", "w"))
PY
: > empty.json
: > empty.h5
head -c 5000 "$BLD/data/esft-deepseek-v2-lite.h5" > trunc.h5
"$MOESIM" platform --nodes 3 -o p3.xml
"$MOESIM" trace stats "$BLD/data/esft-deepseek-v2-lite.h5" -o stats.h5 > /dev/null 2>&1
printf '<?xml version="1.0"?>\n<platform version="4.1">\n  <zone id="z" routing="Full">\n    <host id="a" speed="1f">\n  </zone>\n</platform>\n' > bad.xml
printf '<?xml version="1.0"?>\n<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">\n<platform version="4.1">\n  <zone id="z" routing="Full">\n    <host id="a" speed="1f"><prop id="node" value="0"/><prop id="gpu" value="0"/></host>\n  </zone>\n</platform>\n' > noprop.xml
CAL="$SRC/platforms/h100-calibrated-1n.xml"
sed 's/moesim_kernel_deepep_ll_dispatch_goodput_intra" value="[^"]*"/moesim_kernel_deepep_ll_dispatch_goodput_intra" value="1.5"/' "$CAL" > krange.xml
sed 's/moesim_kernel_deepep_ll_inter_s"/moesim_kernel_deepep_ll_bogus_s"/' "$CAL" > kunk.xml
sed 's/<prop id="moesim_hbm_efficiency"/<prop id="moesim_gemm_efficiency_fp8" value="64:0.5"\/><prop id="moesim_hbm_efficiency"/' "$CAL" > gemmeff.xml
printf '[rank 0] Dispatch bandwidth: 1.00 GB/s, avg_t=10.00 us | Combine bandwidth: 1.00 GB/s, avg_t=10.00 us\n' > deepep.log
# Platforms SimGrid accepts but moesim cannot simulate on, or that abort SimGrid (docs/platforms.md).
$PY - <<'PY'
gpu = ('<prop id="peak_flops_bf16" value="9.89e+14"/><prop id="peak_flops_fp8" value="1.979e+15"/>'
       '<prop id="hbm_bandwidth_Bps" value="3.35e+12"/><prop id="hbm_capacity_bytes" value="8e+10"/>')
head = "<?xml version='1.0'?>\n<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n<platform version=\"4.1\">\n"
def host(i, extra=""):
    return f'<host id="g{i}" speed="1e15f" {extra}><prop id="node" value="{i}"/><prop id="gpu" value="0"/>{gpu}</host>\n'
def two(name, routing="Full", bw="50GBps", extra="", route=True, depth=1):
    s = head + "".join(f'<zone id="z{d}" routing="{routing}">\n' for d in range(depth))
    s += host(0, extra) + host(1) + f'<link id="l" bandwidth="{bw}" latency="1us"/>\n'
    if route:
        s += '<route src="g0" dst="g1"><link_ctn id="l"/></route>\n'
    s += "</zone>\n" * depth + "</platform>\n"
    open(name, "w").write(s)
two("none.xml", routing="None", route=False)
two("zerobw.xml", bw="0Bps")
two("negbw.xml", bw="-5GBps")
two("noroute.xml", route=False)
two("noprof.xml", extra='speed_file="missing.profile"')
two("deep.xml", depth=300)
open("viv.xml", "w").write(head + '<zone id="v" routing="Vivaldi">\n'
    '<host id="g0" coordinates="25.5 9.4 1.4" speed="1Gf"><prop id="node" value="0"/><prop id="gpu" value="0"/>'
    '<prop id="moesim_gpu" value="h100"/></host>\n'
    '<host id="g1" coordinates="2.1 9.4 1.4" speed="1Gf"><prop id="node" value="1"/><prop id="gpu" value="0"/>'
    '<prop id="moesim_gpu" value="h100"/></host>\n</zone>\n</platform>\n')
vals = ", ".join(str(i) for i in range(1, 101))
open("huge.toml", "w").write("out = \"s.h5\"\n[axes]\n" + "".join(
    f"{k} = [{vals}]\n" for k in ("batch_per_gpu", "seed", "gpu_balance", "redundant_experts")))
PY
cp "$BLD/data/esft-deepseek-v2-lite.h5" t.h5
cp "$SRC/platforms/h100-calibrated.calibration.json" rec.json
ln -s rec.json link.json
$PY - <<'PY'
import h5py
src = h5py.File("t.h5", "r"); dst = h5py.File("notokens.h5", "w")
for k, v in src.attrs.items():
    dst.attrs[k] = v
def copy(name, obj):
    if isinstance(obj, h5py.Dataset):
        empty = name.startswith(("requests", "routing", "tokens"))
        d = dst.create_dataset(name, shape=(0,) + obj.shape[1:] if empty else obj.shape, dtype=obj.dtype)
        if not empty:
            d[...] = obj[...]
src.visititems(copy)
PY
rows=0
while IFS='|' read -r _ input failure cmd msg _; do
  cmd=$(echo "$cmd" | sed -e 's/^ *`//' -e 's/` *$//')
  msg=$(echo "$msg" | sed -e 's/^ *`//' -e 's/` *$//')
  [[ "$cmd" == moesim* ]] || continue
  cmd=${cmd/#moesim/\"\$MOESIM\"}
  cmd=${cmd//\$SRC/$SRC}
  rows=$((rows + 1))
  eval "expect_fail 2 \"\$msg\" $cmd"
done < "$SRC/docs/errors.md"
[ "$rows" -ge 25 ] && pass "$rows rows of docs/errors.md checked" || fail "only $rows rows found in docs/errors.md"
finish

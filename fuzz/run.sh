#!/usr/bin/env bash
# Runs the fuzz targets (cargo-fuzz, nightly toolchain) from the seed corpus, with memory
# bombs counted as failures, and minimises the grown corpus back into seeds/.
#
#   fuzz/run.sh                          # every target, RUNS executions each (default 2000000)
#   RUNS=100000 fuzz/run.sh read_npy     # some targets
#   MINIMISE=0 fuzz/run.sh               # keep seeds/ as it is
#
# Each run's statistics go to fuzz/logs/<target>.log (git-ignored). A crash, a timeout
# (-timeout=10 s per input), or an input whose run needs more than 2 GiB
# (-rss_limit_mb / -malloc_limit_mb) stops the target with its input saved in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
runs=${RUNS:-2000000}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(read_pth unpickle read_npy safetensors_header decode_image)
fi
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "[fuzz] $t: $runs runs"
    cargo +nightly fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
        -runs="$runs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 2>&1 | tee "logs/$t.log" | grep -E "^#[0-9]+ +(DONE|INITED)|stat::|ERROR|SUMMARY" || true
    if grep -q -E "ERROR|SUMMARY: libFuzzer" "logs/$t.log"; then
        echo "[fuzz] $t FAILED: see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
        exit 1
    fi
    if [ "${MINIMISE:-1}" = 1 ]; then
        # Minimise the seeds and what the run found into seeds/: libFuzzer's merge keeps the
        # smallest inputs that together reach the same coverage.
        rm -rf "seeds.new/$t"
        mkdir -p "seeds.new/$t"
        cargo +nightly fuzz run --sanitizer none "$t" "seeds.new/$t" "corpus/$t" "seeds/$t" -- \
            -merge=1 -rss_limit_mb=2048 -max_len=65536 >"logs/$t.merge.log" 2>&1
        rm -rf "seeds/$t"
        mv "seeds.new/$t" "seeds/$t"
        rmdir seeds.new 2>/dev/null || true
        echo "[fuzz] $t: seeds/$t holds $(ls "seeds/$t" | wc -l) inputs, $(du -sb "seeds/$t" | cut -f1) bytes"
    fi
done

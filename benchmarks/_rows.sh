# Sourced by run_ur4rec_ml100k.sh and run_ur4rec_gpu.sh: where each ML-100K row's gin file and run folder live.
# Rows: table2 rows by name (base, llm, ur4rec, ...), the Base-continued control as base-continued, Table 3 rows as
# t3/<row>, other controls as ctl/<name>.
experiment_of() {  # backbone row -> experiment path under gin/experiments/ (and runs/), without .gin
  case "$2" in
    base-continued) echo "controls/ml-100k/$1/base-continued" ;;
    ctl/*) echo "controls/ml-100k/$1/${2#ctl/}" ;;
    t3/*) echo "table3/ml-100k/$1/${2#t3/}" ;;
    *) echo "table2/ml-100k/$1/$2" ;;
  esac
}
gin_of() { echo "gin/experiments/$(experiment_of "$1" "$2").gin"; }

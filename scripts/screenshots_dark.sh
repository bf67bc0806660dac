#!/usr/bin/env bash
# Screenshots of each panel in the dark theme, from the real app under a virtual display:
# docs/dark/{compare,gallery,threshold,train,search,map,verify,models}.png.
#
# Needs Xvfb, xdotool and ImageMagick (import, convert). The app runs from this checkout
# with `--theme dark`, its settings and data in a temporary folder, and is driven with
# the mouse and keyboard at the positions of a 1240x820 window at the screen's corner (the
# window's first size; no window manager places it elsewhere).
#
# Usage: scripts/screenshots_dark.sh [PYTHON]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${1:-python}"
OUT="$ROOT/docs/dark"
WORK="$(mktemp -d)"
DISPLAY_NUMBER=98
mkdir -p "$OUT"

export DISPLAY=":$DISPLAY_NUMBER" XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" \
  XDG_CACHE_HOME="$WORK/cache" QT_QPA_PLATFORM=xcb
Xvfb "$DISPLAY" -screen 0 1400x900x24 >/dev/null 2>&1 &
XVFB=$!
APP=""
cleanup() {
  [ -n "$APP" ] && kill "$APP" 2>/dev/null || true
  kill "$XVFB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
sleep 2

# A short training run (3,000 images, 3 epochs) as the Train form remembers it.
"$PYTHON" - <<'PY'
import json
from siamese_gui.gui.common import settings
from siamese_gui.core.model.config import TrainingConfig
form = {"limit": 3000, "config": TrainingConfig(epochs=3, batch_size=64, seed=1).as_dict()}
settings().setValue("train/form", json.dumps(form))
settings().sync()
PY
# Pairs for Verify: two of the bundled sample images a row.
SAMPLES="$ROOT/resources/samples"
"$PYTHON" - "$SAMPLES" "$WORK/pairs.csv" <<'PY'
import sys
from pathlib import Path
samples, out = Path(sys.argv[1]), Path(sys.argv[2])
images = sorted(samples.glob("*/*.png"))
# Alternately two images of one class and two of different classes.
pairs = [(images[i], images[i + 1] if k % 2 == 0 else images[-1 - i]) for k, i in enumerate(range(0, 40, 3))]
rows = ["image_a,image_b"] + [f"{a},{b}" for a, b in pairs]
out.write_text("\n".join(rows) + "\n", encoding="utf-8")
PY

cd "$ROOT"
"$PYTHON" -m siamese_gui --theme dark >"$WORK/app.log" 2>&1 &
APP=$!
xdotool search --sync --name "Siamese GUI" >/dev/null
sleep 30  # the model, the data and the first evaluation

click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-3}"; }
tab() {  # the tab bar's tabs, left to right
  case "$1" in
    compare) click 39 32 ;; gallery) click 112 32 ;; threshold) click 187 32 ;; train) click 255 32 ;;
    search) click 315 32 ;; map) click 373 32 ;; verify) click 428 32 ;; models) click 490 32 ;;
  esac
}
shot() {  # the window (1240x820 at the corner), under 150 KB
  import -window root -crop 1240x820+0+0 +repage "$WORK/$1.png"
  for colours in 256 128 64 32; do  # as many colours as 150 KB allow
    convert "$WORK/$1.png" -resize 1000x +dither -colors "$colours" -strip "$OUT/$1.png"
    [ "$(stat -c %s "$OUT/$1.png")" -le 153600 ] && break
  done
  echo "wrote $OUT/$1.png ($(($(stat -c %s "$OUT/$1.png") / 1024)) KB)"
}

tab compare; click 619 514 4; shot compare          # a random same-class pair
tab gallery; shot gallery
tab threshold; shot threshold
tab search; click 236 766 2; xdotool key Down Return; sleep 2; click 584 64 8; shot search
tab map; click 448 64 60; xdotool mousemove 700 500; sleep 2; shot map
tab verify; click 54 64 3; xdotool type --delay 20 "$WORK/pairs.csv"; xdotool key Return; sleep 10
shot verify
tab models; sleep 20; shot models
tab train; xdotool key ctrl+Return; sleep 150; shot train

"""A real colour dataset built from Debian's icon themes, at benchmark time.

    python benchmarks/colour_icons.py [--out FOLDER] [--min-families 12] [--rebuild]

Install the themes first (Debian 12 package names; `librsvg2-bin` gives `rsvg-convert`):

    apt-get install -y --no-install-recommends librsvg2-bin papirus-icon-theme \
        breeze-icon-theme oxygen-icon-theme gnome-icon-theme mate-icon-theme \
        numix-icon-theme numix-icon-theme-circle elementary-icon-theme \
        elementary-xfce-icon-theme faenza-icon-theme moka-icon-theme faba-icon-theme \
        paper-icon-theme obsidian-icon-theme deepin-icon-theme yaru-theme-icon \
        suru-icon-theme lxde-icon-theme sugar-icon-theme tango-icon-theme \
        gnome-brave-icon-theme gnome-wine-icon-theme gnome-wise-icon-theme \
        gnome-dust-icon-theme gnome-human-icon-theme gnome-noble-icon-theme \
        gnome-illustrious-icon-theme

The dataset (written to a cache folder, never to the repository):

- `classes/`: the app's image-folder format. One class = one freedesktop icon name
  (`edit-copy`, `folder`, `user-trash`, ...) drawn by at least `--min-families` icon
  *families*; one image per family, `classes/<icon>/<family>.png`. A family is one
  drawing style: the dark, light and accent-colour copies of a theme (Papirus-Dark,
  Numix-Light, Yaru-blue, ...) are left out of it, so two images of a class are two
  artists' drawings, never one drawing recoloured. Within a theme the image is the
  smallest PNG of at least 48 px, else its SVG (from the largest size folder) rasterised
  at 64 px onto a transparent background, else a PNG of 32 px or more; alpha is kept
  (PNG RGBA). Only files that lie inside the theme's own folder count (a symbolic link
  into another theme is that theme's drawing), symbolic (monochrome) icons are left out,
  and a file whose bytes another family already gave the class is dropped.
- `colour_variants/`: the colour-only test. The GNOME-Colors themes (brave, dust, human,
  illustrious, noble, wine, wise), Yaru's accent colours and Obsidian's colours each draw
  the same icon in several colours. Class = icon name + colour variant
  (`folder@gnome-colors-wine`); each holds two renderings of that one coloured drawing,
  `large.png` (the rule above) and `small.png` (the theme's own 32 px PNG, else the same
  SVG rasterised at 32 px).
- `colour_pairs.csv`: the colour-only pairs, defined so that colour is the only cue:
  a *same* pair is one coloured drawing at its two renderings (variant v large, v
  small); a *different* pair is the same drawing in another colour of the same family
  (variant v large, variant w small). Both kinds change the rendering size, neither
  changes the drawing, so an embedder blind to colour (and brightness) scores AUC 0.5
  on them; one that sees colour (and is not fooled by the size change) scores near 1.
- `manifest.json`: where every image came from, and the definition above.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ICON_ROOT = Path("/usr/share/icons")
# One drawing style each; a family may look a name up in several folders, in order.
FAMILIES = {
    "adwaita": ["Adwaita"],
    "breeze": ["breeze"],
    "deepin-bloom": ["bloom"],
    "deepin-sea": ["Sea"],
    "deepin-vintage": ["Vintage"],
    "elementary": ["elementary"],
    "elementary-xfce": ["elementary-xfce"],
    "faba": ["Faba"],
    "faenza": ["Faenza"],
    "gnome": ["gnome"],
    "gnome-colors": ["gnome-human", "gnome-colors-common"],
    "mate": ["mate"],
    "moka": ["Moka"],
    "nuovext2": ["nuoveXT2"],
    "numix": ["Numix"],
    "numix-circle": ["Numix-Circle"],
    "obsidian": ["Obsidian"],
    "oxygen": ["oxygen"],
    "paper": ["Paper"],
    "papirus": ["Papirus"],
    "sugar": ["sugar"],
    "suru": ["suru"],
    "tango": ["Tango"],
    "yaru": ["Yaru"],
}
# The same drawings in several colours: family -> {variant: theme folder}.
COLOUR_VARIANTS = {
    "gnome-colors": {
        v: f"gnome-{v}" for v in ("brave", "dust", "human", "illustrious", "noble", "wine", "wise")
    },
    "yaru": {"orange": "Yaru"}
    | {v: f"Yaru-{v}" for v in ("bark", "blue", "magenta", "olive", "prussiangreen", "purple", "red", "sage", "viridian")},
    "obsidian": {"default": "Obsidian"}
    | {v.lower(): f"Obsidian-{v}" for v in ("Amber", "Aqua", "Cyan", "Gray", "Green", "Mint", "Red", "Sand")},
}
MIN_FAMILIES = 12
LARGE_PX = 64
SMALL_PX = 32
DEFINITION = (
    "Colour-only pairs: class = icon name + colour variant of one theme family "
    "(GNOME-Colors, Yaru accents, Obsidian colours). A same pair is one coloured drawing "
    f"at two renderings (the large one: PNG >= 48 px or SVG at {LARGE_PX} px; the small one: "
    f"the theme's {SMALL_PX} px PNG or the SVG at {SMALL_PX} px). A different pair is that "
    "drawing's large rendering against the small rendering of the same drawing in another "
    "colour of the same family. Both kinds change the rendering size and neither changes "
    "the drawing, so colour is the only cue: an embedder blind to colour and to brightness "
    "scores AUC 0.5 (a grey one can score above it only through the variants' different "
    "lightness)."
)
_SIZE_DIR = re.compile(r"^(\d+)(?:x\d+)?(@2x)?$")


def default_cache() -> Path:
    """Where the dataset is built: $XDG_CACHE_HOME (or ~/.cache)/siamese-gui-benchmarks."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "siamese-gui-benchmarks" / "colour-icons"


def _nominal_size(parts: tuple[str, ...]) -> int | None:
    """The size folder in a theme path (48x48, 48x48@2x -> 96, breeze's 48), 0 for
    `scalable`, None when there is none."""
    for part in parts:
        if part == "scalable":
            return 0
        m = _SIZE_DIR.match(part)
        if m:
            return int(m.group(1)) * (2 if m.group(2) else 1)
    return None


def scan_theme(theme: Path) -> dict[str, list[tuple[int | None, Path]]]:
    """Every non-symbolic icon name in `theme` with its candidate files, as
    (nominal size, real path); files whose real path leaves the theme are skipped."""
    found: dict[str, list[tuple[int | None, Path]]] = defaultdict(list)
    root = theme.resolve()
    for dirpath, _, filenames in os.walk(theme, followlinks=False):
        rel = Path(dirpath).relative_to(theme).parts
        if any("symbolic" in p for p in rel):
            continue
        for f in filenames:
            stem, dot, ext = f.rpartition(".")
            if not dot or ext not in ("png", "svg") or "symbolic" in stem:
                continue
            path = Path(dirpath) / f
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if root not in real.parents or not real.is_file():
                continue
            found[stem].append((_nominal_size(rel), real))
    return found


def pick_large(candidates: list[tuple[int | None, Path]]) -> tuple[Path, str] | None:
    """The file a family's image comes from, and how: ('png', ...) or ('svg', ...).

    The smallest PNG of at least 48 px, else the SVG of the largest size folder
    (scalable first), else the largest PNG of at least 32 px."""
    pngs = [(s, p) for s, p in candidates if p.suffix == ".png" and s]
    svgs = [(s, p) for s, p in candidates if p.suffix == ".svg"]
    big = sorted((s, str(p)) for s, p in pngs if s >= 48)
    if big:
        return Path(big[0][1]), "png"
    if svgs:
        # scalable (0) counts as the largest; unknown sizes come last.
        best = max(svgs, key=lambda sp: (10_000 if sp[0] == 0 else (sp[0] or -1), str(sp[1])))
        return best[1], "svg"
    mid = sorted(((s, str(p)) for s, p in pngs if s >= 32), reverse=True)
    return (Path(mid[0][1]), "png") if mid else None


def pick_small(candidates: list[tuple[int | None, Path]], large: tuple[Path, str]) -> tuple[Path, str]:
    """The small rendering for the colour-only test: the theme's own PNG of 32 px (else
    24 px) other than the large file, else the large file's SVG rasterised at 32 px."""
    for size in (SMALL_PX, 24):
        pngs = sorted(str(p) for s, p in candidates if p.suffix == ".png" and s == size and p != large[0])
        if pngs:
            return Path(pngs[0]), "png"
    if large[1] == "svg":
        return large[0], "svg-small"
    svgs = sorted(str(p) for s, p in candidates if p.suffix == ".svg")
    return (Path(svgs[0]), "svg-small") if svgs else large


def _pick(candidates):
    return pick_large(candidates) if candidates else None


def _content(path: Path, cache: dict) -> str:
    if path not in cache:
        cache[path] = _sha(path)
    return cache[path]


def distinct_classes(picked: dict[str, dict[str, tuple[Path, str]]]) -> dict[str, dict[str, tuple[Path, str]]]:
    """Keep one name per drawing: themes give one drawing many names (`edit-copy`,
    `gtk-copy`, `stock_copy`; `folder`, `inode-directory`), which would make pairs of
    "different" classes out of one file.

    Names are taken most-drawn first; a family's image is dropped when another kept name
    already holds the same content from that family, and a name goes altogether when
    half or more of its images went that way (it is an alias of a kept one).
    """
    cache: dict = {}
    used: dict[str, set[str]] = defaultdict(set)
    kept: dict[str, dict[str, tuple[Path, str]]] = {}
    for name in sorted(picked, key=lambda n: (-len(picked[n]), n)):
        own = {}
        for family, (source, how) in picked[name].items():
            if _content(source, cache) not in used[family]:
                own[family] = (source, how)
        if 2 * len(own) <= len(picked[name]):
            continue
        kept[name] = own
        for family, (source, _) in picked[name].items():
            used[family].add(_content(source, cache))
    return kept


def _render(job: tuple[Path, str, Path]) -> str | None:
    """Write one image: a PNG copied as it is, an SVG rasterised (transparent background).

    Returns an error message or None."""
    source, how, out = job
    out.parent.mkdir(parents=True, exist_ok=True)
    if how == "png":
        shutil.copyfile(source, out)
        return None
    px = SMALL_PX if how == "svg-small" else LARGE_PX
    done = subprocess.run(
        ["rsvg-convert", "-w", str(px), "-h", str(px), "-a", "-f", "png", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        out.unlink(missing_ok=True)
        return f"{source}: rsvg-convert failed ({done.stderr.strip()[:200]})"
    return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path, min_families: int = MIN_FAMILIES, rebuild: bool = False, jobs: int = 2) -> dict:
    """Build the dataset in `out` (see the module help) unless its manifest is there.

    Returns:
        The manifest: counts, the definition of the colour-only pairs, every image's source.
    """
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("min_families") == min_families:
            return manifest
    if shutil.which("rsvg-convert") is None:
        sys.exit("rsvg-convert is missing: apt-get install librsvg2-bin")
    present = {f: [d for d in dirs if (ICON_ROOT / d).is_dir()] for f, dirs in FAMILIES.items()}
    present = {f: dirs for f, dirs in present.items() if dirs}
    if len(present) < min_families:
        sys.exit(f"only {len(present)} icon families are installed ({sorted(present)}); see the module help")
    # family -> name -> candidates (first folder that has the name wins)
    by_family: dict[str, dict[str, list]] = {}
    for family, dirs in present.items():
        names: dict[str, list] = {}
        for d in dirs:
            for name, cands in scan_theme(ICON_ROOT / d).items():
                names.setdefault(name, cands)
        by_family[family] = names
    counts = defaultdict(int)
    for names in by_family.values():
        for name in names:
            counts[name] += 1
    picked = {
        name: {f: p for f in sorted(by_family) if (p := _pick(by_family[f].get(name)))}
        for name, c in counts.items()
        if c >= min_families
    }
    chosen = distinct_classes(picked)
    if out.exists():
        shutil.rmtree(out)
    jobs_list, entries = [], []
    for name, images in sorted(chosen.items()):
        for family, (source, how) in sorted(images.items()):
            dest = out / "classes" / name / f"{family}.png"
            jobs_list.append((source, how, dest))
            entries.append({"class": name, "family": family, "file": str(dest.relative_to(out)),
                            "source": str(source), "how": how})
    # Colour variants: names two or more variants of a family draw in their own folder.
    variant_entries = []
    for family, variants in COLOUR_VARIANTS.items():
        scans = {v: scan_theme(ICON_ROOT / d) for v, d in variants.items() if (ICON_ROOT / d).is_dir()}
        shared = defaultdict(list)
        for v, names in scans.items():
            for name in names:
                shared[name].append(v)
        for name, vs in sorted(shared.items()):
            if len(vs) < 2:
                continue
            for v in sorted(vs):
                large = pick_large(scans[v][name])
                if not large:
                    continue
                small = pick_small(scans[v][name], large)
                folder = out / "colour_variants" / f"{name}@{family}-{v}"
                for kind, (src, how) in (("large", large), ("small", small)):
                    dest = folder / f"{kind}.png"
                    jobs_list.append((src, how, dest))
                    variant_entries.append({"class": f"{name}@{family}-{v}", "icon": name, "family": family,
                                            "variant": v, "rendering": kind, "file": str(dest.relative_to(out)),
                                            "source": str(src), "how": how})
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        errors = [e for e in pool.map(_render, jobs_list) if e]
    ok = {str(dest.relative_to(out)) for _, _, dest in jobs_list if dest.exists()}
    entries = _drop_duplicates(out, [e for e in entries if e["file"] in ok])
    variant_entries = _drop_blind_variants(out, [e for e in variant_entries if e["file"] in ok])
    # Classes that fell below the threshold after failures and duplicates go.
    per_class = defaultdict(list)
    for e in entries:
        per_class[e["class"]].append(e)
    kept = {c for c, es in per_class.items() if len(es) >= min_families}
    for c in set(per_class) - kept:
        shutil.rmtree(out / "classes" / c, ignore_errors=True)
    entries = [e for e in entries if e["class"] in kept]
    pairs = colour_pairs(variant_entries)
    with open(out / "colour_pairs.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "same", "icon", "family"])
        writer.writerows(pairs)
    manifest = {
        "min_families": min_families,
        "families": sorted(by_family),
        "classes": len(kept),
        "images": len(entries),
        "colour_variant_classes": len({e["class"] for e in variant_entries}),
        "colour_variant_images": len(variant_entries),
        "colour_pairs": len(pairs),
        "colour_pairs_same": sum(1 for p in pairs if p[2]),
        "definition": DEFINITION,
        "errors": errors,
        "images_list": entries,
        "colour_variants": variant_entries,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    (out / "README.txt").write_text(__doc__ + "\n" + DEFINITION + "\n")
    return manifest


def _drop_duplicates(out: Path, entries: list[dict]) -> list[dict]:
    """Drop an image whose bytes another family already gave its class (a theme that
    copies another's file rather than linking it)."""
    seen, kept = set(), []
    for e in entries:
        key = (e["class"], _sha(out / e["file"]))
        if key in seen:
            (out / e["file"]).unlink()
            continue
        seen.add(key)
        kept.append(e)
    return kept


def _drop_blind_variants(out: Path, entries: list[dict]) -> list[dict]:
    """Keep, per icon and family, one variant per distinct large image (two variants with
    the same bytes are not a colour pair), and only icons left with two variants."""
    groups = defaultdict(dict)
    for e in entries:
        groups[(e["icon"], e["family"], e["variant"])][e["rendering"]] = e
    keep_classes, by_icon = set(), defaultdict(dict)
    for (icon, family, variant), rend in sorted(groups.items()):
        if set(rend) != {"large", "small"}:
            continue
        digest = _sha(out / rend["large"]["file"])
        by_icon[(icon, family)].setdefault(digest, rend["large"]["class"])
    for classes in by_icon.values():
        if len(classes) >= 2:
            keep_classes.update(classes.values())
    for e in entries:
        if e["class"] not in keep_classes:
            shutil.rmtree(out / "colour_variants" / e["class"], ignore_errors=True)
    return [e for e in entries if e["class"] in keep_classes]


def colour_pairs(variant_entries: list[dict]) -> list[tuple[str, str, bool, str, str]]:
    """The colour-only pairs (see `DEFINITION`): for each variant v of an icon, one same
    pair (v large, v small) and one different pair (v large, w small) for the next
    variant w of that icon in sorted order, so the two kinds are balanced."""
    files = defaultdict(dict)
    for e in variant_entries:
        files[(e["icon"], e["family"])].setdefault(e["variant"], {})[e["rendering"]] = e["file"]
    pairs = []
    for (icon, family), variants in sorted(files.items()):
        order = sorted(variants)
        for i, v in enumerate(order):
            w = order[(i + 1) % len(order)]
            pairs.append((variants[v]["large"], variants[v]["small"], True, icon, family))
            pairs.append((variants[v]["large"], variants[w]["small"], False, icon, family))
    return pairs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_cache())
    parser.add_argument("--min-families", type=int, default=MIN_FAMILIES)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    m = build(args.out, args.min_families, args.rebuild, args.jobs)
    print(f"{args.out}: {m['classes']} classes, {m['images']} images from {len(m['families'])} families; "
          f"{m['colour_variant_classes']} colour-variant classes, {m['colour_pairs']} colour-only pairs; "
          f"{len(m['errors'])} rasterising errors")


if __name__ == "__main__":
    main()

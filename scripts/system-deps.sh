#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium (Playwright drives it; no downloaded browser) and
# docker-compose (v1, to validate docker-compose.yml offline), Node and npm (the JavaScript checks), g++ and
# CMake (llama.cpp's server for the embedded model). Installs only what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v npm >/dev/null || missing+=(nodejs npm)  # eslint and node's test runner for static/js
# llama.cpp's server is compiled from source by pip (make embedded-model): a C++ compiler and CMake.
command -v g++ >/dev/null || missing+=(g++)
command -v cmake >/dev/null || missing+=(cmake)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

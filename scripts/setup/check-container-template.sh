#!/usr/bin/env bash
# Run the busybox container template in a throwaway container and check what the panel relies on:
# labels, a prompt graceful stop (PID 1 honours SIGTERM), pause and unpause.
#   bash scripts/setup/check-container-template.sh      (after services.sh and templates.sh)
set -euo pipefail

IMAGE=panel-templates/busybox:latest
NAME=panel-template-check

cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
status() { docker inspect -f '{{.State.Status}}' "$NAME"; }

cleanup
[ "$(docker image inspect -f '{{index .Config.Labels "panel.template"}}' "$IMAGE")" = busybox ] \
    || fail "$IMAGE lacks the label panel.template=busybox"

start=$(now)
docker run -d --name "$NAME" "$IMAGE" >/dev/null
[ "$(status)" = running ] || fail "not running after docker run"
docker exec "$NAME" sh -c 'id -un && ls /bin/sh' >/dev/null || fail "docker exec into the container failed"
echo "start:    $(since "$start") s"

docker pause "$NAME" >/dev/null
[ "$(status)" = paused ] || fail "not paused"
docker unpause "$NAME" >/dev/null
[ "$(status)" = running ] || fail "not running after unpause"
echo "pause:    paused and unpaused"

start=$(now)
docker stop -t 10 "$NAME" >/dev/null
took=$(since "$start")
[ "$(docker inspect -f '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "exit code not 0 after SIGTERM (killed?)"
awk -v t="$took" 'BEGIN { exit !(t < 2) }' || fail "docker stop took $took s: PID 1 ignores SIGTERM"
echo "stop:     $took s, exit code 0"

echo "OK: $IMAGE starts, pauses and stops gracefully"

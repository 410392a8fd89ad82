#!/bin/sh
# Prints what a CI job usually wants to know about the container it runs in.
echo "user:    $(id -un) ($(id -u):$(id -g))"
echo "workdir: $(pwd)"
echo "ci:      ${CI:-unset}"
. /etc/os-release && echo "os:      $PRETTY_NAME"

#!/usr/bin/env bash
# Deletes the KIND cluster of setup.sh (the secret files under k8s/components/secret-files/files stay: delete them
# by hand when you no longer need the tokens they sign).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kind delete cluster --name "$CLUSTER"
pass "cluster $CLUSTER deleted"

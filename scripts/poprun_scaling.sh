#!/bin/bash
# One point of a weak-scaling study on Graphcore IPUs: poprun starts one instance per IPU
# replica (as the seed did), each running the same accelbench command; accelbench reads Open
# MPI's rank variables and joins a gloo group on the hosts to gather evaluation predictions.
# Never run here: no IPU or Poplar SDK was available when this was written.
#
#   scripts/poprun_scaling.sh 16 0.002            # 16 IPUs, lr 0.002, full scale
#   scripts/poprun_scaling.sh 4 0.001 small
#
# Needs the Poplar SDK 3.4 environment (Dockerfile.ipu) and, on a pod, the V-IPU partition
# (IPUOF_VIPU_API_HOST, IPUOF_VIPU_API_PARTITION_ID). Generate the data once beforehand:
# `accelbench data generate neuron_inverter --scale full`.
set -euo pipefail

IPUS=${1:?usage: scripts/poprun_scaling.sh IPUS LEARNING_RATE [SCALE]}
LEARNING_RATE=${2:?usage: scripts/poprun_scaling.sh IPUS LEARNING_RATE [SCALE]}
SCALE=${3:-full}

export MASTER_ADDR=${MASTER_ADDR:-$(hostname)}
export MASTER_PORT=${MASTER_PORT:-29500}

poprun --num-instances="$IPUS" --num-replicas="$IPUS" --ipus-per-replica=1 \
    --mpi-local-args="-x MASTER_ADDR -x MASTER_PORT" \
    accelbench run neuron_inverter --device=ipu --scale="$SCALE" --mode=fixed_epochs \
    --runs=1 --hparam learning_rate="$LEARNING_RATE" --results-dir="results/lr$LEARNING_RATE"

#!/bin/bash
# Wheels the GPU machine lacks (its python3 is 3.12 with numpy 2.5, which Brian2 2.8.0 cannot use), for
# benchmarks/gpu/device_check.sh. Run here, in the repository root; they land in .whl/ (git-ignored
# through .git/info/exclude) and travel with `carry: [".whl"]`. About 38 MB.
set -e
grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d .whl \
  numpy==2.2.6 brian2==2.8.0 brian2cuda==1.0a7 mujoco==4.0.0 mujoco-core==4.0.0 gymnasium==1.4.0 \
  farama-notifications==0.0.6 sympy==1.14.0 nevergrad==1.0.12 cma==4.5.0 bayesian-optimization==1.4.0 \
  glfw==2.11.0 pyopengl==3.1.10
du -sh .whl

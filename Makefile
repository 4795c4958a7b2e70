# scissor: build and test entry points.
#
#   make test      set up .venv (pinned deps, scissor_bringup, scissor_msgs), run the lint gate and the test suite
#   make testbed   set up .venv and run the live testbed on its embedded defaults (TESTBED_SECONDS=60), then a summary
#   make test-jazzy  the same set-up in .venv-jazzy with the ROS 2 Jazzy wheels, then the ROS-facing tests
#   make assets    fetch and verify the real weights and video (scissor assets fetch; part of test and testbed)
#
# Housekeeping: `make clean` removes colcon's build/ install/ log/ (keeps .venv);
# `make distclean` removes .venv and .venv-jazzy too.
#
# Everything lives in .venv/ (created with `python3 -m venv`): the pinned Python
# dependencies incl. ROS 2 Kilted from PyPI wheels, the scissor_bringup package installed in
# editable mode and registered in the venv's ament index (tools/register_ament.py: what
# `colcon build --symlink-install` does, so `ros2 launch`/`ros2 run` and scissor's data lookup
# find it), and the scissor_msgs interface package, which colcon builds against
# the wheels and installs (merged) into the venv prefix itself, next to the wheels'
# own message packages. The wheels' ros_wheels_bootstrapper already puts
# <venv>/lib on LD_LIBRARY_PATH, and <venv>/lib/python3.X/site-packages is on
# sys.path, so `.venv/bin/python -c 'import scissor_msgs.msg'`, `.venv/bin/scissor`
# and `.venv/bin/pytest` use the messages with nothing sourced.
# Every step is guarded by a stamp file: re-running make when nothing changed does nothing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := install
.NOTPARALLEL:

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= python3
VENV ?= $(ROOT)/.venv
REQUIREMENTS ?= $(ROOT)/requirements.txt
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
TESTBED_SECONDS ?= 60

MSG_FILES := $(sort $(wildcard $(ROOT)/scissor_msgs/msg/*.msg))
BRINGUP := $(ROOT)/scissor_bringup

STAMP_REQS := $(VENV)/.scissor-requirements.stamp
STAMP_BRINGUP := $(VENV)/.scissor-bringup.stamp
STAMP_MSGS := $(VENV)/.scissor-msgs.stamp

# The launch stack (launch, launch_ros, ros2cli) and vision_msgs have no wheels: `make test` builds them
# into .venv from ../shared/ros2-src when this machine has it (CI does); elsewhere a ROS distro provides
# them, and the tests that need them skip with the reason.
ROS2_SRC_TOOL ?= $(ROOT)/../shared/tools/install-ros2-src

# `make test-jazzy`: the ROS-facing tests (nodes over DDS, launch files, the colcon workspace) again in a
# second venv with the ROS 2 Jazzy wheels (the current LTS), built and stamped like .venv.
JAZZY_VENV := $(ROOT)/.venv-jazzy
ROS_TESTS := test/test_msgs.py test/test_ros_adapters.py test/test_ros_args.py test/test_camera_node.py \
  test/test_edge_node.py test/test_annotator_node.py test/test_camera_input.py test/test_launcher.py \
  test/test_testbed.py test/test_ros_workspace.py

# The conformance test runs YOLOv3-tiny through OpenCV 4.x's Darknet importer (OpenCV 5, which scissor
# uses, has none): a side venv with only that OpenCV and numpy.
OPENCV4_VENV := $(ROOT)/.venv-opencv4
STAMP_OPENCV4 := $(OPENCV4_VENV)/.scissor-opencv4.stamp

.PHONY: install assets ros2-src lint test test-jazzy testbed clean distclean help

help:
	@echo "make test     set up .venv, run the lint gate (ruff) and the test suite (pytest; -m slow for long runs)"
	@echo "make testbed  set up .venv and run the live testbed for TESTBED_SECONDS (60) s, then print its summary"
	@echo "make test-jazzy  set up .venv-jazzy (ROS 2 Jazzy wheels) and run the node, launch and workspace tests"

install: $(STAMP_REQS) $(STAMP_BRINGUP) $(STAMP_MSGS)

# --- virtualenv -------------------------------------------------------------------

# COLCON_IGNORE: a workspace that has this repository in src/ must not find the venv's own packages.
$(PY):
	$(PYTHON) -m venv $(VENV)
	touch $(VENV)/COLCON_IGNORE

# Pinned dependencies, then the one-off fix of the wheels' CMake files (idempotent),
# then a .pth that puts the venv prefix on AMENT_PREFIX_PATH (for ament_index_python).
$(STAMP_REQS): $(REQUIREMENTS) $(ROOT)/requirements-python.txt $(ROOT)/tools/fix_ros_wheel_cmake.py | $(PY)
	$(PY) -m pip install -r $(REQUIREMENTS)
	$(PY) $(ROOT)/tools/fix_ros_wheel_cmake.py
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "scissor_ament_prefix.pth").write_text("import os, sys; p = os.environ.get(\"AMENT_PREFIX_PATH\", \"\"); sys.prefix in p.split(os.pathsep) or os.environ.__setitem__(\"AMENT_PREFIX_PATH\", os.pathsep.join(filter(None, [p, sys.prefix])))\n")'
	touch $@

# compat mode: a .pth with the package folder, so packages added later import too.
$(STAMP_BRINGUP): $(BRINGUP)/setup.py $(BRINGUP)/setup.cfg $(BRINGUP)/package.xml $(ROOT)/tools/register_ament.py $(STAMP_REQS)
	cd $(BRINGUP) && $(PY) -m pip install -e . --no-deps --config-settings editable_mode=compat
	$(PY) $(ROOT)/tools/register_ament.py $(BRINGUP)
	touch $@

# --- scissor_msgs -----------------------------------------------------------------
# Built with colcon against the wheels (AMENT_PREFIX_PATH / CMAKE_PREFIX_PATH = venv
# prefix) and installed merged into the venv prefix: Python package into its
# site-packages, typesupport libraries into <venv>/lib (on LD_LIBRARY_PATH via the
# wheels' bootstrapper), ament index and CMake config into <venv>/share.
$(STAMP_MSGS): $(MSG_FILES) $(ROOT)/scissor_msgs/CMakeLists.txt $(ROOT)/scissor_msgs/package.xml $(STAMP_REQS)
	cd $(ROOT) && \
	  PATH="$(VENV)/bin:$$PATH" \
	  AMENT_PREFIX_PATH="$(VENV)" CMAKE_PREFIX_PATH="$(VENV)" \
	  $(VENV)/bin/colcon --log-base $(VENV)/.colcon/log build \
	    --base-paths scissor_msgs \
	    --build-base $(VENV)/.colcon/build --install-base $(VENV) --merge-install \
	    --event-handlers console_cohesion+ \
	    --cmake-args -DPython3_EXECUTABLE=$(PY) -DBUILD_TESTING=OFF
	$(PY) -c 'import scissor_msgs.msg as m; m.FeatureMap(); print("scissor_msgs importable from", m.__file__)'
	touch $@

# --- real weights and video, the conformance venv -----------------------------------

# Idempotent (verified files are kept; the check hashes ~36 MB). Without the registry it warns and the
# runs fall back (random init, the synthetic scene) and say so; a download with the wrong hash fails.
assets: install
	$(VENV)/bin/scissor assets fetch --best-effort

$(STAMP_OPENCV4): $(ROOT)/requirements-opencv4.txt
	$(PYTHON) -m venv $(OPENCV4_VENV)
	touch $(OPENCV4_VENV)/COLCON_IGNORE
	$(OPENCV4_VENV)/bin/python -m pip install -r $<
	touch $@

# --- user-facing targets ------------------------------------------------------------

ros2-src: install
	@if [ -x "$(ROS2_SRC_TOOL)" ]; then "$(ROS2_SRC_TOOL)" "$(VENV)"; \
	  else echo "make: no $(ROS2_SRC_TOOL): launch_ros/ros2cli/vision_msgs not installed; their tests skip"; fi

test: install assets $(STAMP_OPENCV4) ros2-src lint
	@cd $(ROOT) && set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): failing" >&2; exit 1; fi; \
	  exit $$rc

# The lint gate (ruff.toml): style, import order and likely bugs, before any test runs.
lint: install
	cd $(ROOT) && $(VENV)/bin/ruff check --no-cache .

test-jazzy:
	$(MAKE) --no-print-directory VENV=$(JAZZY_VENV) REQUIREMENTS=$(ROOT)/requirements-jazzy.txt \
	  PYTEST_ARGS="$(ROS_TESTS)" test

testbed: install assets
	cd $(ROOT) && $(VENV)/bin/scissor testbed --duration $(TESTBED_SECONDS)

clean:
	rm -rf $(ROOT)/build $(ROOT)/install $(ROOT)/log

distclean: clean
	rm -rf $(ROOT)/.venv $(JAZZY_VENV) $(OPENCV4_VENV)

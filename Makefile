# SwiftVMM: the two commands a new machine needs are `make run` and
# `make test`; both install what is missing first.
SHELL := /bin/bash

# Debian packages the build, the tests and the benchmark need.
#   gcc, binutils, make : the firmware guests and the C benchmark floor
#   linux-libc-dev      : <linux/kvm.h> for the CKVM module
#   qemu-system-x86     : the reference VMM the tests and benchmark compare with
#   python3, time       : the benchmark harness and its peak-RSS probe
#   python3-venv        : the virtualenv for the QMP tests' client (qemu.qmp, PyPI)
#   linux-source-6.1 flex bison bc libelf-dev libssl-dev : the kit kernel (`make linux-guest`)
#   busybox-static cpio e2fsprogs : the kit's initramfs and ext4 root (mkfs.ext4 -d, e2fsck in tests)
#   lz4 xz-utils        : `make linux-guest-debian` (extracting Debian's cloud kernel)
#   seabios             : real PC firmware for the SeaBIOS boot test
#   iproute2 iputils-ping : the virtio-net tests' namespace, tap and pings
#   acpica-tools        : iasl, the judge of our DSDT
#   dnsmasq-base        : the DHCP server the Linux guest gets its lease from
DEBIAN_PACKAGES := gcc binutils make linux-libc-dev qemu-system-x86 python3 python3-venv time \
                   linux-source-6.1 flex bison bc libelf-dev libssl-dev busybox-static \
                   lz4 xz-utils cpio e2fsprogs seabios iproute2 iputils-ping acpica-tools dnsmasq-base

# Statically linked: smaller and faster to start (see README, "Benchmarks").
# lld (shipped with the toolchain) because gold warns about the runtime's
# dlopen reference in a static link.
SWIFT_RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -static-executable -Xswiftc -use-ld=lld
SWIFTVMM := $(CURDIR)/.build/release/swiftvmm
FIRMWARE := $(CURDIR)/Firmware/build

# QEMU's own QMP client and pytest, from PyPI, in a virtualenv under .build.
QMP_VENV := $(CURDIR)/.build/qmp-venv

.PHONY: all deps firmware build run test bench clean qmp-venv linux-guest linux-guest-debian fuzz fuzz-replay

all: build

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain needed)"; exit 1; }

firmware: deps
	$(MAKE) -C Firmware

build: deps
	swift build $(SWIFT_RELEASE_FLAGS)

# Boots the demo guest: real mode -> long mode -> ring 3, prints its checks on
# COM1 and resets; -no-reboot turns that reset into a clean exit (status 0).
run: firmware build
	$(SWIFTVMM) -bios $(FIRMWARE)/demo.bin -no-reboot -nographic

# The Linux guest kit from Debian packages (docs/linux-guest.md): the kit
# kernel (built once per config, cached in ~/.cache/swiftvmm), an initramfs
# and an ext4 root.
linux-guest: deps
	bash Firmware/linux/build-guest.sh

# Debian's own cloud kernel, booted to its early console by the tests.
linux-guest-debian: deps
	bash Firmware/linux/build-debian-guest.sh

qmp-venv: deps
	@test -x $(QMP_VENV)/bin/pytest || { python3 -m venv $(QMP_VENV) && \
	  $(QMP_VENV)/bin/pip install -q --disable-pip-version-check qemu.qmp pytest; }

# Every test: unit tests of each layer, the boot tests that start the built
# swiftvmm (and QEMU) on the firmware guests, then the QMP tests driven by
# qemu.qmp and raw sockets.
test: firmware build qmp-venv linux-guest linux-guest-debian
	SWIFTVMM=$(SWIFTVMM) FIRMWARE_DIR=$(FIRMWARE) swift test
	SWIFTVMM=$(SWIFTVMM) FIRMWARE_DIR=$(FIRMWARE) $(QMP_VENV)/bin/pytest -q -p no:cacheprovider Tests/QMP
	$(MAKE) fuzz-replay
	$(MAKE) fuzz FUZZ_SECONDS=10

# libFuzzer targets for the parsers of outside input (Fuzz/Harness): each
# runs FUZZ_SECONDS from the committed seeds in Fuzz/corpus/TARGET (what it
# finds goes to .build/fuzz/corpus; a crash input to .build/fuzz/artifacts,
# to be committed to Fuzz/corpus/TARGET as a regression input). Longer:
# make fuzz FUZZ_SECONDS=3600. Leak reports are off: a leak is not a crash,
# and the Swift runtime's caches look like leaks to LeakSanitizer.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := qmp-json command-line kernel virtio-blk
FUZZ_BUILD := $(CURDIR)/.build/fuzz
fuzz: deps
	swift build --product swiftvmm-fuzz --build-path $(FUZZ_BUILD) \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts; \
	  if ASAN_OPTIONS=detect_leaks=0 FUZZ_TARGET=$$t $(FUZZ_BUILD)/debug/swiftvmm-fuzz -max_total_time=$(FUZZ_SECONDS) \
	       -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_BUILD)/corpus/$$t Fuzz/corpus/$$t \
	       > $(FUZZ_BUILD)/$$t.log 2>&1; then \
	    echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' $(FUZZ_BUILD)/$$t.log), no finding"; \
	  else tail -40 $(FUZZ_BUILD)/$$t.log; echo "fuzz $$t: FINDING (see $(FUZZ_BUILD)/artifacts)"; exit 1; fi; \
	done

# The committed corpus (seeds and past findings) replayed once through a
# normal build of the same harness.
fuzz-replay:
	swift build --product swiftvmm-fuzz
	@for t in $(FUZZ_TARGETS); do .build/debug/swiftvmm-fuzz $$t Fuzz/corpus/$$t/* || exit 1; done

bench: firmware build
	$(MAKE) -C Benchmarks
	swift build $(SWIFT_RELEASE_FLAGS) --product ExitPathBench
	.build/release/ExitPathBench
	python3 Benchmarks/bench.py --swiftvmm $(SWIFTVMM) --firmware $(FIRMWARE) \
	  --floor Benchmarks/build/kvm-floor --json Benchmarks/build/results.json

clean:
	rm -rf .build
	$(MAKE) -C Firmware clean
	$(MAKE) -C Benchmarks clean

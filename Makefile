# SPDX-License-Identifier: MPL-2.0
#
# make demo   the main job on generated media: a stream with known defects, analysed by vqmon
#             (the elements in a pipeline, then the file with the vqmon program)
# make test   fmt, clippy and the whole test suite
# make fuzz   each fuzz target for FUZZ_SECONDS (600) with cargo-fuzz, on stable Rust
# make bench  the analysis benchmarks (criterion), the side-by-side comparisons with FFmpeg (video
#             and audio) and the many-streams scale benchmarks, elements and vqmon monitor (pinned
#             to one core)

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: all deps build demo test bench compare install clean fuzz

all: build

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build --release

demo: deps
	$(CARGO) build --release --lib --bin vqmon --example demo
	$(CARGO) run --release --example demo
	@echo
	@echo "== the same stream from its MP4 file, through vqmon analyze (exit status 1: defects found) =="
	target/release/vqmon analyze target/vqmon-demo.mp4 --report target/vqmon-demo-report.json; \
	  status=$$?; echo "vqmon analyze exit status $$status"; test $$status -eq 1
	@echo "report: target/vqmon-demo-report.json"

test: deps
	scripts/test.sh

FUZZ_SECONDS ?= 600
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $$($(CARGO) fuzz list); do \
	  $(CARGO) fuzz run --sanitizer none -O -a $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=20000 || exit 1; \
	done

bench:
	$(CARGO) bench --bench freeze
	$(CARGO) bench --bench artifact
	$(CARGO) bench --bench avsync
	benches/compare.sh
	benches/compare-audio.sh
	taskset -c 0 $(CARGO) bench --bench scale
	benches/monitor_scale.py

compare:
	benches/compare.sh
	benches/compare-audio.sh

install:
	meson setup build --prefix=/usr --buildtype=release || meson setup --reconfigure build --prefix=/usr --buildtype=release
	meson compile -C build
	meson install -C build

clean:
	$(CARGO) clean
	rm -rf build

# make demo: end-to-end demo on the CPU.  make test: the test suite.  make bench: benchmarks.
# Each target creates or updates .venv first; nothing else is needed on a fresh machine.
PYTHON_CANDIDATES := python3.11 python3.10 python3.9 python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  for candidate in $(PYTHON_CANDIDATES); do \
	    if command -v $$candidate >/dev/null 2>&1 && $$candidate -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))'; then \
	      found=$$candidate; break; \
	    fi; \
	  done; \
	  if [ -z "$$found" ]; then \
	    echo "error: need Python 3.9, 3.10 or 3.11 (TensorFlow 2.15.1, the last release with tf.estimator, supports no other); none found on PATH" >&2; \
	    exit 2; \
	  fi; \
	  echo "creating $(VENV) with $$found"; \
	  $$found -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade "pip<25"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: venv
	$(PY) -m library.demo_data --out dataset
	$(PY) convert_dataset.py --dataset_dir dataset/train --tfrecord_filename train --tfrecord_dir dataset/train --max_edge 384
	$(PY) convert_dataset.py --dataset_dir dataset/test --tfrecord_filename test --tfrecord_dir dataset/test --max_edge 384 --labels_file dataset/train/train.json
	$(PY) run.py --config_set demo
	$(PY) run.py --config_set demo --mode export --checkpoint best --export_dir runs/demo/export
	$(PY) run.py --config_set demo --mode predict --checkpoint best --images $$(for d in dataset/test/*/; do ls $$d*.jpg | head -n 1; done)

test: venv
	$(PY) -m pytest -n 2 tests

bench: venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs dataset export

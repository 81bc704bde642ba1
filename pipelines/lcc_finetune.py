"""Batch entry point of the LCC fine-tuning pipeline (same as `lcc run CONFIG`).

python pipelines/lcc_finetune.py pipelines/configs/lcc_demo.yaml finetune.epochs=2
"""

import sys

from lcc.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
